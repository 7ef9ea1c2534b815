"""Every private name of TensorFlow, tf_keras, keras-tuner and TFP that the zoo uses, in one
place.

Each shim says what it reaches and why no public API does. ``tests/test_compat.py`` checks
each one against the installed versions, so an upgrade that moves or drops one fails there,
in a test named after it, instead of deep inside a training step. Nothing else in the zoo
touches a private name of these libraries.
"""

import tensorflow_probability as tfp

tfpl = tfp.layers


# tf_keras: a Model's counters and compile state, read by the zoo's own steps.

def predict_batches_run(model):
    """The variable counting the batches of the current ``predict`` (Keras's
    ``_predict_counter``): the key of each batch's own call noise."""
    return model._predict_counter


def test_batches_run(model):
    """The variable counting the batches of the current ``evaluate`` (Keras's
    ``_test_counter``): the key of each validation batch's own noise."""
    return model._test_counter


def is_compiled(model):
    """Whether ``compile`` has run (Keras's ``_is_compiled``; ``model.optimizer`` exists on
    an uncompiled model too)."""
    return model._is_compiled


def steps_per_execution(model):
    """The variable holding the compiled ``steps_per_execution`` (None before compile;
    Keras's ``_steps_per_execution``): the zoo sets it to 1 for ``*_on_batch``."""
    return model._steps_per_execution


def cluster_coordinator(model):
    """The ParameterServerStrategy coordinator of a model (Keras's
    ``_cluster_coordinator``), None otherwise: its step functions are Keras's own."""
    return model._cluster_coordinator


def own_weights(layer):
    """The variables a layer or model made itself, trainable first, without those of its
    sublayers (Keras's ``_trainable_weights`` and ``_non_trainable_weights``): what
    ``save_own_variables`` writes for it in a ``.keras`` file."""
    return layer._trainable_weights + layer._non_trainable_weights


def create_optimizer_slots(optimizer, variables):
    """Makes a legacy optimizer's slots and iteration counter for ``variables`` now
    (``_create_all_weights``; the public ``build`` exists only on the new optimizers)."""
    optimizer._create_all_weights(variables)


# TFP: the layers' distributions.

def distribution_of(value):
    """The ``tfd.Distribution`` behind a TFP layer's output: the layers return it wrapped
    in a tensor-coercible class whose ``tensor_distribution`` holds it; anything else is
    returned as it is."""
    return getattr(value, "tensor_distribution", value)


def init_distribution_lambda(layer, make_distribution_fn, convert_to_tensor_fn, **kwargs):
    """``tfpl.DistributionLambda.__init__`` on an instance of a subclass of one of TFP's
    distribution layers, past that layer's own ``__init__`` (which hard-wires its own
    ``new``): how the zoo's XLA-compilable MultivariateNormalTriL keeps TFP's class."""
    tfpl.DistributionLambda.__init__(layer, make_distribution_fn, convert_to_tensor_fn,
                                     **kwargs)


# TensorFlow: build facts no public API reports.

def onednn_enabled():
    """Whether TensorFlow's oneDNN CPU kernels are on in this process (decided at import by
    ``TF_ENABLE_ONEDNN_OPTS``; on by default on x86 Linux CPUs with AVX512_VNNI, AVX512_BF16
    or AMX, off on AVX2-only ones)."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


# keras-tuner: the roles of a distributed search.

def is_tuner_worker():
    """True in a worker process of a distributed keras-tuner search (``KERASTUNER_TUNER_ID``
    set, not the chief oracle): keras-tuner's ``distribute.utils``, not exported."""
    from keras_tuner.src.distribute import utils

    return utils.has_chief_oracle() and not utils.is_chief_oracle()
