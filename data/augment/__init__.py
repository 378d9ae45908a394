"""Training-data generators beside the phantom: spatial/intensity augmentation (``spatial``), real-CT
scanner effects (``ct``) and the augmented real training set (``training_set``)."""
