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
    # vq_vae's: its nearest code may change with the encoder's rounding, a jump); vae_gan's
    # loss is a squared difference of two images' discriminator features, each rounded to
    # bfloat16 (up to 3.5e-3 apart over 12 random draws of the small model, 2026-12-07)
    for term in (("loss", "neg_elbo", "reconstruction") if mixed.has_elbo else (
            "loss", "reconstruction")) if name != "vq_vae" else ():
        rtol = 1e-2 if (name, term) == ("vae_gan", "loss") else 2e-3
        np.testing.assert_allclose(values[term], reference[term], rtol=rtol, err_msg=term)
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
    expected, note = precision.choice()
    out = capsys.readouterr().out
    assert (note in out) if note else "training in" not in out
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


def test_the_mixed_policy_follows_the_cpu_flags_and_gpu_capabilities():
    assert precision.choice(gpus=[], flags={"avx2", "avx512_bf16"}) == (precision.POLICY, None)
    assert precision.choice(gpus=[], flags={"amx_bf16"}) == (precision.POLICY, None)
    assert precision.choice(gpus=[], flags={"avx2", "avx512f"}) == ("float32", (
        "this CPU has no bfloat16 instructions (no avx512_bf16 or amx_bf16 in /proc/cpuinfo): "
        "training in float32"))
    assert precision.choice(gpus=[(9, 0), (8, 0)], flags=set()) == (precision.POLICY, None)
    assert precision.choice(gpus=[(8, 0), (7, 5)], flags={"avx512_bf16"}) == (
        "mixed_float16", "a GPU of compute capability (7, 5) has no native bfloat16 (8.0 or "
        "later has): training in mixed_float16, its losses scaled")
    assert precision.choice(gpus=[(7, 0), (6, 1)], flags=set()) == ("float32", (
        "a GPU of compute capability (6, 1) has neither native bfloat16 (8.0 or later) nor "
        "float16 tensor cores (7.0 or later): training in float32"))
    assert precision.choice(gpus=[None], flags=set())[0] == "float32"  # capability unknown


@pytest.mark.parametrize("name", ["vae_gan", "aae", "vq_vae"])
def test_under_float16_every_optimizer_a_step_applies_scales_the_loss(name, test_images,
                                                                      tmp_path):
    """Under a ``mixed_float16`` policy a user set, the optimizers of a model's parts (VAE-
    GAN's decoder's and discriminator's, the adversarial autoencoder's discriminator's, a
    VQ-VAE prior's) are loss-scaled as Keras's ``compile`` scales the model's: float16
    gradients of unscaled losses underflow. Training moves every part's weights to finite
    values, each scale stays a power of 2 (halved on an overflow), and a .keras file
    brings the model back scaled alike."""
    stages = {"prior_epochs": 1} if name == "vq_vae" else {}
    with precision.policy("mixed_float16"):
        model = small(name, latent_dim=3, **stages)
    stepped = model.stepped_optimizers()
    assert len(stepped) == {"vae_gan": 3, "aae": 2, "vq_vae": 2}[name]
    for key, optimizer, _ in stepped:
        assert isinstance(optimizer, tf_keras.mixed_precision.LossScaleOptimizer), key
    before = [[v.numpy() for v in variables] for _, _, variables in stepped]
    # 16 steps an epoch (vq_vae: the autoencoder's, then the prior's): from Keras's first
    # scale, 2^15, vq_vae's float16 gradients overflowed in 8 steps, each skipped and the
    # scale halved, until 2^7 fitted
    model.fit(as_batch(model, test_images[:256]), batch_size=16, epochs=2, verbose=0)
    for (key, optimizer, variables), start in zip(stepped, before, strict=True):
        now = [v.numpy() for v in variables]
        assert all(np.isfinite(value).all() for value in now), key
        assert max(np.abs(a - b).max() for a, b in zip(now, start, strict=True)) > 0, key
        assert np.log2(float(optimizer.loss_scale)) % 1 == 0, key
    model.save(tmp_path / "m.keras")
    reloaded = tf_keras.models.load_model(tmp_path / "m.keras")  # under the file's policy
    assert reloaded.dtype_policy.name == "mixed_float16"
    reloaded_optimizers = reloaded.stepped_optimizers()
    for (key, _, _), (_, theirs, _) in zip(stepped, reloaded_optimizers, strict=True):
        assert isinstance(theirs, tf_keras.mixed_precision.LossScaleOptimizer), key
    for a, b in zip(model.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
