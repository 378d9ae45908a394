"""The prediction pipeline (``run_pipeline.py``, ``landmark-cascade predict``): options and the batch
(``cli``), one scan's steps (``case_run``), output folder names (``naming``)."""
