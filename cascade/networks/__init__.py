"""The networks of the cascade: the 3D ResNet (``resnet3d``), the losses, and a stage's model (``build``).

Importing this package imports TensorFlow and Keras (quietly: ``cascade.tf_runtime``).
"""
from cascade.tf_runtime import import_tensorflow

import_tensorflow()
