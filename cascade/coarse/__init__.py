"""The coarse stage by registration: reduced atlases (``atlas``) and SimpleITK registration (``registration``)."""
