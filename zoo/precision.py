"""Mixed precision: the networks compute in bfloat16, the distributions in float32.

Keras's convention (``tf_keras.mixed_precision``): under the global policy
``mixed_bfloat16`` a layer keeps float32 variables and computes in bfloat16. The zoo's layers
that make TFP distributions -- posteriors, priors, likelihood heads, and the networks inside
them (flow steps, a PixelCNN prior) -- are float32 layers whatever the global policy: Keras
casts their inputs to float32, so every log-density, KL, objective and gradient of the
variables they hold is float32, and only the encoder's and decoder's bodies run in bfloat16.

bfloat16 keeps float32's exponent range (8 bits) with an 8-bit significand (about 3 decimal
digits): no loss scaling is needed, unlike float16. Under a ``mixed_float16`` policy a user
sets, Keras's ``compile`` wraps the model's optimizer in a ``LossScaleOptimizer`` (the loss
multiplied by a dynamic scale before the gradients, which are divided by it after, a step
with an overflow skipped and the scale halved), and the optimizers a model keeps for its
parts (a discriminator's, VAE-GAN's decoder's, a VQ-VAE prior's) are wrapped alike
(``loss_scaled``). ``zoo train --mixed-precision`` (the
recipe's ``mixed_precision = true``) builds the model under ``mixed_bfloat16`` where the
device computes bfloat16 natively (a GPU of compute capability 8.0 or later; a CPU with
AVX512_BF16 or AMX), under ``mixed_float16`` on GPUs of 7.x, and in float32 elsewhere,
saying which in one line where it is not bfloat16 (``choice``). A user who
sets the global policy themselves before ``zoo.get`` gets the same split.
"""

import contextlib

import tensorflow as tf
import tf_keras

from zoo import provenance

POLICY = "mixed_bfloat16"
CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo's (provenance.VECTOR_EXTENSIONS)


def distribution_dtype():
    """The dtype of the layers that make distributions (and of a discriminator's logits): the
    global policy's variable dtype, float32 under ``mixed_bfloat16`` (float64 where a user
    computes in float64)."""
    return tf_keras.mixed_precision.global_policy().variable_dtype


def loss_scaled(optimizer):
    """``optimizer`` in a dynamic ``LossScaleOptimizer`` where the global policy computes in
    float16 (whose gradients would underflow unscaled), as Keras's ``compile`` wraps a
    model's; else ``optimizer`` itself."""
    if tf_keras.mixed_precision.global_policy().compute_dtype == "float16":
        return tf_keras.mixed_precision.LossScaleOptimizer(optimizer)
    return optimizer


def distribution_kwargs(kwargs):
    """A distribution layer's constructor ``kwargs`` with its dtype ``distribution_dtype()``
    unless one is given (a saved layer's config gives its own)."""
    return {**kwargs, "dtype": kwargs.get("dtype") or distribution_dtype()}


@contextlib.contextmanager
def policy(name):
    """The global Keras dtype policy ``name`` while the block runs (layers take it when they
    are made); the one before it afterwards. None, or the policy in force: left as it is
    (Keras's default policy, float32 from ``floatx``, is not pinned)."""
    before = tf_keras.mixed_precision.global_policy()
    if name is None or getattr(name, "name", name) == before.name:
        yield
        return
    tf_keras.mixed_precision.set_global_policy(name)
    try:
        yield
    finally:  # Keras's default (None: floatx's policy) where that is what it was
        tf_keras.mixed_precision.set_global_policy(
            None if before.name == tf_keras.backend.floatx() else before)


def choice(gpus=None, flags=None):
    """``(policy, note)``: the mixed policy this machine trains in, and, where it is not
    ``POLICY``, why, in one line. ``mixed_bfloat16`` on GPUs all of compute capability 8.0
    or later, or a CPU with one of ``CPU_FLAGS``; ``mixed_float16`` (its losses scaled:
    ``loss_scaled``) on GPUs of 7.0 or later, some before 8.0 (float16 tensor cores,
    without bfloat16's); else ``float32`` (``gpus``: compute capabilities, ``flags``: CPU
    flags, read from the machine when not given)."""
    if gpus is None:
        gpus = [tf.config.experimental.get_device_details(gpu).get("compute_capability")
                for gpu in tf.config.list_physical_devices("GPU")]
    if gpus:
        oldest = min(gpus, key=lambda capability: capability or (0, 0))
        if oldest and oldest >= (8, 0):
            return POLICY, None
        if oldest and oldest >= (7, 0):
            return "mixed_float16", (f"a GPU of compute capability {oldest} has no native "
                                     "bfloat16 (8.0 or later has): training in "
                                     "mixed_float16, its losses scaled")
        return "float32", (f"a GPU of compute capability {oldest} has neither native "
                           "bfloat16 (8.0 or later) nor float16 tensor cores (7.0 or later): "
                           "training in float32")
    flags = provenance.cpu_flags() if flags is None else flags
    if set(flags or ()) & set(CPU_FLAGS):
        return POLICY, None
    return "float32", ("this CPU has no bfloat16 instructions (no avx512_bf16 or amx_bf16 "
                       "in /proc/cpuinfo): training in float32")
