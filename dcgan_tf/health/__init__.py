"""Watching a run train: the training-health monitor, the measures it takes, its figure.

The core trains without it. `train(..., monitor=watch)` attaches it: watch builds the
monitor for a run (fixed z, real images from the source, the drawn sets' probe features) and
train() adds it to Keras' callbacks. `python -m dcgan_tf train` always does; so do chapters
2 to 4 and the stability lab. Its modules are in the package map (dcgan_tf/__init__.py).
"""

from dcgan_tf.health.monitor import HealthMonitor, read_flags, thresholds, watch

__all__ = ["HealthMonitor", "read_flags", "thresholds", "watch"]
