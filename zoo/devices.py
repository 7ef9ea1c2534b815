"""The devices a process trains on: ``cpu_replicas`` splits the CPU into logical devices.

Its checks need no TensorFlow, so a command that cannot work is refused at once, before
TensorFlow starts (seconds).
"""

import os

from zoo.errors import ConfigError, require_int


def cpu_replicas(count):
    """Splits the CPU into ``count`` logical devices, so that ``strategy()`` (and so
    ``zoo.train``, ``zoo.tune``, ``zoo bench``) trains on ``count`` mirrored replicas, as on
    a machine with ``count`` GPUs: a rehearsal of multi-GPU training on a CPU (``zoo train
    --cpu-replicas N``). Call it before TensorFlow runs anything."""
    require_int("cpu_replicas", count)
    if os.environ.get("TF_CONFIG") and count > 1:
        raise ConfigError("cpu_replicas with TF_CONFIG: MultiWorkerMirroredStrategy trains one "
                          "CPU device per worker (a TensorFlow limitation); drop one of them")
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:  # "Virtual devices cannot be modified after being initialized"
        if len(tf.config.list_logical_devices("CPU")) != count:
            raise ConfigError(f"cpu_replicas({count}) came after TensorFlow started its "
                              "devices; call it first, before anything else runs") from None
