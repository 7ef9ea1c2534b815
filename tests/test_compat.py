"""One test per shim of ``zoo.compat``, the zoo's only uses of private TensorFlow, tf_keras,
keras-tuner and TFP names: after an upgrade, the test named after the shim that broke
fails here, not somewhere inside training."""

import os
import platform

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

import zoo
from zoo import compat, provenance
from zoo.models.gaussians import DiagonalNormal
from zoo.models.posteriors import MultivariateNormalTriL

tfd = tfp.distributions


def small_model(**compile_settings):
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(8,))
    if compile_settings:
        model.compile(**compile_settings)
    return model


def test_predict_batches_run_counts_the_batches_of_predict(test_images):
    model = small_model()
    model.predict(test_images[:30], batch_size=10, verbose=0)
    assert int(compat.predict_batches_run(model).numpy()) == 3


def test_test_batches_run_counts_the_batches_of_evaluate(test_images):
    model = small_model()
    model.evaluate(test_images[:40], batch_size=10, verbose=0)
    assert int(compat.test_batches_run(model).numpy()) == 4


def test_is_compiled_tells_a_compiled_model_from_a_built_one():
    built = zoo.models.vae.VAE(*zoo.models.networks.mlp((28, 28, 1), (8,), 2),
                               zoo.models.priors.StandardNormal(2))
    assert compat.is_compiled(built) is False
    built.compile()
    assert compat.is_compiled(built) is True


def test_steps_per_execution_is_the_compiled_variable():
    model = small_model(steps_per_execution=5)
    assert isinstance(compat.steps_per_execution(model), tf.Variable)
    assert int(compat.steps_per_execution(model).numpy()) == 5


def test_cluster_coordinator_is_none_outside_parameter_server_training():
    assert compat.cluster_coordinator(small_model()) is None


def test_own_weights_are_the_model_s_own_variables_without_its_parts():
    model = small_model()
    assert [v.name for v in compat.own_weights(model)] == ["step:0"]
    dense = tf_keras.layers.Dense(3)
    dense.build((None, 2))
    assert [tuple(v.shape) for v in compat.own_weights(dense)] == [(2, 3), (3,)]


def test_create_optimizer_slots_makes_the_legacy_adam_slots_now():
    model = small_model()
    compat.create_optimizer_slots(model.optimizer, model.trainable_variables)
    # the iteration counter, then an m and a v per trainable variable
    assert len(model.optimizer.weights) == 1 + 2 * len(model.trainable_variables)


def test_distribution_of_unwraps_a_tfp_layer_output(test_images):
    output = small_model().encoder(test_images[:2])
    assert hasattr(output, "tensor_distribution")  # TFP's tensor-coercible wrapper
    unwrapped = compat.distribution_of(output)
    assert type(unwrapped) is DiagonalNormal  # the posterior layer's own, not TFP's wrapper
    assert isinstance(unwrapped, tfd.Distribution) and not hasattr(unwrapped,
                                                                   "tensor_distribution")
    plain = tfd.Normal(0.0, 1.0)
    assert compat.distribution_of(plain) is plain


def test_init_distribution_lambda_makes_tfp_s_layer_with_the_zoo_s_maker():
    layer = MultivariateNormalTriL(2)
    params = np.zeros((1, MultivariateNormalTriL.params_size(2)), np.float32)
    distribution = compat.distribution_of(layer(params))
    assert isinstance(distribution, tfd.MultivariateNormalTriL)
    # softplus(0) + 1e-5 on the diagonal: the zoo's new(), not TFP's FillScaleTriL
    np.testing.assert_allclose(np.diag(distribution.scale_tril.numpy()[0]),
                               np.log(2.0) + 1e-5, rtol=1e-6)


# The CPU features with which TensorFlow turns oneDNN on by default (its release notes:
# "neural-network-focused hardware features"); an AVX2-only VM of 2026-12-07 had it off.
ONEDNN_BY_DEFAULT = {"avx512_vnni", "avx512_bf16", "amx_tile", "amx_bf16"}


@pytest.mark.skipif(platform.system() != "Linux" or platform.machine() != "x86_64",
                    reason="oneDNN is TensorFlow's default on x86 Linux only")
def test_onednn_enabled_follows_tensorflows_setting():
    """On by default on x86 Linux CPUs with ONEDNN_BY_DEFAULT's features, off with
    TF_ENABLE_ONEDNN_OPTS=0 and on with =1 (read at import)."""
    setting = os.environ.get("TF_ENABLE_ONEDNN_OPTS")
    default = bool(ONEDNN_BY_DEFAULT & set(provenance.cpu_flags() or ()))
    assert compat.onednn_enabled() is ((setting == "1") or (setting is None and default))


def test_is_tuner_worker_is_false_outside_a_distributed_search(monkeypatch):
    monkeypatch.delenv("KERASTUNER_TUNER_ID", raising=False)
    monkeypatch.delenv("KERASTUNER_ORACLE_IP", raising=False)
    assert compat.is_tuner_worker() is False
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "tuner0")
    monkeypatch.setenv("KERASTUNER_ORACLE_IP", "127.0.0.1")
    monkeypatch.setenv("KERASTUNER_ORACLE_PORT", "8000")
    assert compat.is_tuner_worker() is True
