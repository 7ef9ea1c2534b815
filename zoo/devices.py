"""The devices a process trains on: ``cpu_replicas`` splits the CPU into logical devices;
``strategy`` is the process's ``tf.distribute`` strategy over them.

Importing it imports no TensorFlow, and ``cpu_replicas`` checks its argument first, so a
command that cannot work is refused at once, before TensorFlow starts (seconds).
"""

import functools
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


@functools.cache
def strategy():
    """The one ``tf.distribute`` strategy of this process, created on first use.

    MultiWorkerMirroredStrategy when ``TF_CONFIG`` is set; MirroredStrategy over all GPUs
    when there are several, or over the logical CPUs when ``cpu_replicas`` split the CPU
    (no GPU); else the default single-device strategy. Cached because a second
    MirroredStrategy in one process breaks its collectives.
    """
    import tensorflow as tf

    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in cpus])
    return tf.distribute.get_strategy()


def active_strategy():
    """The strategy a run trains under: one the caller entered (``with s.scope():``; a
    TPUStrategy, say), else the process's own (``strategy()``)."""
    import tensorflow as tf

    return tf.distribute.get_strategy() if tf.distribute.has_strategy() else strategy()


def strategy_name(distribution):
    """The name users know a strategy by (MultiWorkerMirroredStrategy's class is
    CollectiveAllReduceStrategy; no strategy entered: the default one)."""
    import tensorflow as tf

    if isinstance(distribution, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    name = type(distribution).__name__
    return "the default strategy" if name.startswith("_Default") else name
