"""Training built-in architectures on labelled images (``detector_training.train_centernet``)."""
