"""Mixed precision: the networks compute in bfloat16, the distributions in float32.

Keras's convention (``tf_keras.mixed_precision``): under the global policy
``mixed_bfloat16`` a layer keeps float32 variables and computes in bfloat16. The zoo's layers
that make TFP distributions -- posteriors, priors, likelihood heads, and the networks inside
them (flow steps, a PixelCNN prior) -- are float32 layers whatever the global policy: Keras
casts their inputs to float32, so every log-density, KL, objective and gradient of the
variables they hold is float32, and only the encoder's and decoder's bodies run in bfloat16.

bfloat16 keeps float32's exponent range (8 bits) with an 8-bit significand (about 3 decimal
digits): no loss scaling is needed, unlike float16. ``zoo train --mixed-precision`` (the
recipe's ``mixed_precision = true``) builds the model under ``mixed_bfloat16`` where the
device computes bfloat16 natively (a GPU of compute capability 8.0 or later; a CPU with
AVX512_BF16 or AMX), and says in one line that it trains in float32 where not. A user who
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


def unsupported(gpus=None, flags=None):
    """Why this machine cannot train in bfloat16 natively, in one line, or None where it
    can: on GPUs, every GPU of compute capability 8.0 or later; else a CPU with one of
    ``CPU_FLAGS`` (``gpus``: compute capabilities, ``flags``: CPU flags, read from the
    machine when not given)."""
    if gpus is None:
        gpus = [tf.config.experimental.get_device_details(gpu).get("compute_capability")
                for gpu in tf.config.list_physical_devices("GPU")]
    if gpus:
        old = [capability for capability in gpus if not capability or capability < (8, 0)]
        return (None if not old else
                f"a GPU of compute capability {old[0]} has no native bfloat16 (8.0 or later "
                "has): training in float32")
    flags = provenance.cpu_flags() if flags is None else flags
    if set(flags or ()) & set(CPU_FLAGS):
        return None
    return ("this CPU has no bfloat16 instructions (no avx512_bf16 or amx_bf16 in "
            "/proc/cpuinfo): training in float32")
