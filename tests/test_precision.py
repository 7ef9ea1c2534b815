"""Mixed precision (``zoo.precision``): every builder's networks compute in bfloat16 while its
distributions, objective and gradients stay float32, giving the float32 objective to
bfloat16's rounding; a run trained mixed records the policy and reloads under it; the
machine check by hand."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import zoo
from conftest import as_batch
from small import DISTINCT, small
from zoo import files, precision, runs
from zoo.cli import main

SEED = tf.constant([5, 6], tf.int64)


def objective_and_gradients(model, inputs):
    """The objective's values on ``inputs`` (noise ``SEED``, full KL weight, not training)
    and the gradients of the mean of every loss the model trains on (``loss``, and its
    parts' own: a discriminator's, VAE-GAN's decoder's), each variable's from one of them."""
    with tf.GradientTape() as tape:
        values = model.objective(model, inputs, SEED, 1.0, False)
        loss = tf.add_n([tf.reduce_mean(values[name]) for name in (
            "loss", "decoder_loss", "discriminator_loss") if name in values])
    return values, tape.gradient(loss, model.trainable_variables)


@pytest.mark.parametrize("name", DISTINCT)
def test_every_builder_computes_its_networks_in_bfloat16_and_its_objective_in_float32(
        name, test_images):
    with precision.policy(precision.POLICY):
        mixed = small(name, latent_dim=3)
    assert tf_keras.mixed_precision.global_policy().name == "float32"  # restored
    assert mixed.zoo_config["dtype_policy"] == precision.POLICY
    full = small(name, latent_dim=3)
    full.set_weights(mixed.get_weights())
    layers = [layer for layer in mixed.submodules if isinstance(layer, tf_keras.layers.Layer)]
    assert any(layer.compute_dtype == "bfloat16" for layer in layers)  # the networks
    for distribution_layer in (mixed.encoder.layers[-1], mixed.likelihood_head):
        assert distribution_layer.compute_dtype == "float32"
    assert all(variable.dtype in (tf.float32, tf.int64) for variable in mixed.variables)

    images = test_images[:8]
    inputs = mixed.model_inputs(*as_batch(mixed, images)) if mixed.conditional else images
    (values, gradients), (reference, _) = (objective_and_gradients(model, inputs)
                                           for model in (mixed, full))
    assert values["loss"].dtype == tf.float32
    # bfloat16's 8-bit significand in the networks: within 5e-4 of float32's loss here (not
    # vq_vae's: its nearest code may change with the encoder's rounding, a jump)
    for term in (("loss", "neg_elbo", "reconstruction") if mixed.has_elbo else (
            "loss", "reconstruction")) if name != "vq_vae" else ():
        np.testing.assert_allclose(values[term], reference[term], rtol=2e-3, err_msg=term)
    assert all(g is not None and g.dtype == tf.float32  # (a gather's: IndexedSlices)
               and np.isfinite(tf.convert_to_tensor(g)).all()
               for g in gradients)


def test_zoo_train_mixed_precision_records_its_policy_and_reloads_under_it(
        manual_dir, tmp_path, capsys):
    """The command line's flag through zoo.train: 2 epochs; the policy in metrics.json and
    model.json, the global policy as it was, the run folder rebuilt under its policy."""
    main(["train", "mlp_vae", "--latent-dim", "4", "--set", "hidden_units=32", "--epochs", "2",
          "--train-examples", "256", "--eval-examples", "128", "--mixed-precision",
          "--manual-dir", str(manual_dir), "--out", str(tmp_path / "run")])
    assert tf_keras.mixed_precision.global_policy().name == "float32"  # nothing left set
    # where the machine has no native bfloat16 the run says so in one line, in float32
    note = precision.unsupported()
    expected = "float32" if note else precision.POLICY
    out = capsys.readouterr().out
    assert (note in out) if note else "training in float32" not in out
    metrics = files.read_json(tmp_path / "run" / runs.METRICS)
    assert metrics["dtype_policy"] == expected and metrics["run"]["mixed_precision"] is True
    assert len(metrics["history"]["val_neg_elbo"]) == 2
    reloaded = zoo.load(tmp_path / "run")
    assert reloaded.dtype_policy.name == expected
    assert reloaded.encoder.layers[1].compute_dtype == expected.removeprefix("mixed_")
    assert reloaded.encoder.layers[-1].compute_dtype == "float32"
    config = zoo.RunConfig.of_settings(metrics["run"])
    test = config.plan(manual_dir).load("test")
    again = zoo.evaluate(reloaded, test, samples=config.eval_samples, seed=config.seed,
                         verbose=0)
    assert again["elbo_nats"] == metrics["test"]["elbo_nats"]  # the run's own test line


def test_native_bfloat16_is_found_from_the_cpu_flags_and_gpu_capabilities():
    assert precision.unsupported(gpus=[], flags={"avx2", "avx512_bf16"}) is None
    assert precision.unsupported(gpus=[], flags={"amx_bf16"}) is None
    assert precision.unsupported(gpus=[], flags={"avx2", "avx512f"}) == (
        "this CPU has no bfloat16 instructions (no avx512_bf16 or amx_bf16 in /proc/cpuinfo): "
        "training in float32")
    assert precision.unsupported(gpus=[(9, 0), (8, 0)], flags=set()) is None
    assert precision.unsupported(gpus=[(8, 0), (7, 5)], flags={"avx512_bf16"}) == (
        "a GPU of compute capability (7, 5) has no native bfloat16 (8.0 or later has): "
        "training in float32")
