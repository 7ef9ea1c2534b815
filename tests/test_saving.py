"""Whole-model saving the Keras way: ``model.save("m.keras")`` and
``tf_keras.models.load_model`` give the same model, weights, optimizer state and noise, as
``zoo.save``/``zoo.load`` give the same model and weights (every builder, trained, its
log p(x) above its ELBO); formats that cannot hold a zoo model are refused at save time, in
one line."""

import numpy as np
import pytest
import tf_keras

import zoo
from conftest import functions_run_eagerly
from small import DISTINCT, small
from zoo.errors import ConfigError
from zoo.models import networks
from zoo.models.priors import StandardNormal
from zoo.models.vae import VAE


@pytest.mark.parametrize("name", DISTINCT)
def test_every_builder_trains_round_trips_through_a_keras_file_and_a_run_folder_and_bounds_log_p(
        name, load, tmp_path):
    """Every builder at its small size, trained 100 steps (traced, as ``fit`` runs), then
    ``model.save("m.keras")`` + ``load_model`` and ``zoo.save`` + ``zoo.load`` (the run
    folder's weights by path): the same test ELBO and log p(x) to the bit, the .keras file
    also brings back the optimizer and trains on identically; and the importance-sampled
    log p(x) is above the ELBO (for a model with a density; an autoencoder's point mass
    says why it has none)."""
    tf_keras.utils.set_random_seed(4)
    # cvae learns fashion_mnist's grey pixels: at the small size it passes -300 nats in 100
    # steps at a rate of 1e-2 (ELBO -293.6; -312.5 at 3e-3)
    model = small(name, latent_dim=4, **({"learning_rate": 1e-2} if name == "cvae" else {}))
    model.compile(learning_rate=float(model.optimizer.learning_rate), kl_warmup_steps=10)
    dataset = "fashion_mnist" if model.conditional else "binarized_mnist"  # labelled
    train = load(dataset, "train", 64, labels=model.conditional)
    model.fit(train.take(100), verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = tf_keras.models.load_model(tmp_path / "m.keras")
    zoo.save(model, tmp_path / "run")
    from_folder = zoo.load(tmp_path / "run")

    assert type(reloaded) is type(model) and reloaded.zoo_config == model.zoo_config
    assert from_folder.zoo_config == model.zoo_config
    assert (reloaded.seed, reloaded.kl_warmup_steps, int(reloaded.step)) == (
        model.seed, 10, 100)
    assert int(from_folder.step) == 100
    assert float(reloaded.optimizer.learning_rate) == pytest.approx(
        float(model.optimizer.learning_rate))
    assert int(reloaded.optimizer.iterations) == 100  # the optimizer's state came back
    test = next(iter(load(dataset, "test", 64, labels=model.conditional)))  # one batch
    # Eagerly: a fraction of the seconds of tracing functions run once (strategy_check.py
    # traces every builder's evaluation; test_cli's eval of a trained run and test_bench's
    # recorded eval trace reloaded ones). All three alike, with few samples; then K = 100
    # codes 50 at a time (two chunks: 3,200 decoder passes at once, 0.65 GB for cnn_vae's
    # feature maps) on the model from the .keras file.
    with functions_run_eagerly():
        metrics = [zoo.evaluate(m, test, samples=2, log_likelihood_samples=5, verbose=0)
                   for m in (model, reloaded, from_folder)]
        assert metrics[0] == metrics[1] == metrics[2]
        bounded(name, reloaded, zoo.evaluate(reloaded, test, samples=20,
                                             log_likelihood_samples=100, chunk=50, verbose=0))
    # Same noise step, same Adam moments, same warm-up: one more epoch gives the same
    # weights (to float rounding: CPU kernels may sum in another order; an Adam restarted
    # from zero moments would move each weight by ~1e-3). Both eagerly, as above (the
    # first fit was traced: the path of the saved state).
    more = train.take(2).cache()  # the same two batches for both
    with functions_run_eagerly():
        for m in (model, reloaded):
            m.fit(more, verbose=0)
    for a, b in zip(model.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-5)


def bounded(name, model, metrics):
    """``metrics`` (``zoo.evaluate``'s, K = 100) of a model trained 100 steps: the
    importance-sampled log p(x) above the ELBO, both in a trained model's range; the bound
    itself for a point-mass posterior (vq_vae: every sample the same code); no log p(x) and
    one line why for an autoencoder, whose reconstruction is reported."""
    if not model.has_elbo:
        assert not {"elbo_nats", "kl_nats", "log_likelihood_nats"} & set(metrics)
        assert "no density" in metrics["no_likelihood"]
        assert 0 < metrics["reconstruction_nats"] < 300
    elif name == "vq_vae":
        assert "point mass" in metrics["log_likelihood_note"]
        assert metrics["log_likelihood_nats"] == pytest.approx(metrics["elbo_nats"], abs=1e-3)
        assert -300 < metrics["elbo_nats"] < -50
    else:
        assert "log_likelihood_note" not in metrics
        # msssim_vae and vae_gan train for MS-SSIM and a discriminator's features, not their
        # Bernoulli likelihood: a true bound, far looser (vae_gan's -450 here)
        floor = -3000 if name in ("msssim_vae", "vae_gan") else -300
        assert floor < metrics["elbo_nats"] < metrics["log_likelihood_nats"] < -50


def test_loading_without_compile_gives_the_trained_weights(test_images, tmp_path):
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
    model.fit(test_images[:64], batch_size=32, verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = tf_keras.models.load_model(tmp_path / "m.keras", compile=False)
    for a, b in zip(model.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("filename, kwargs", [
    ("m.h5", {}), ("m_savedmodel", {}), ("m.keras", {"save_format": "tf"}),
])
def test_formats_that_cannot_hold_a_zoo_model_are_refused_at_save_time(filename, kwargs,
                                                                       tmp_path):
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
    with pytest.raises(ConfigError, match=r"save whole as \.keras .*zoo\.export") as error:
        model.save(tmp_path / filename, **kwargs)
    assert "\n" not in str(error.value)
    assert not any(tmp_path.iterdir())  # nothing half-written


def test_a_hand_assembled_vae_is_refused_at_save_time_with_what_works(tmp_path):
    encoder, decoder = networks.mlp((28, 28, 1), (16,), 2)
    model = VAE(encoder, decoder, StandardNormal(2))
    with pytest.raises(ConfigError, match="assembled by hand.*zoo.register"):
        model.save(tmp_path / "m.keras")
    assert not any(tmp_path.iterdir())


def test_the_optimizer_state_goes_only_into_the_optimizer_the_file_configured(test_images,
                                                                              tmp_path):
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
    model.compile(optimizer=tf_keras.optimizers.legacy.RMSprop(1e-3))
    model.fit(test_images[:64], batch_size=32, verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = tf_keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(reloaded.optimizer, tf_keras.optimizers.legacy.RMSprop)
    for a, b in zip(model.optimizer.get_weights(), reloaded.optimizer.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    fresh = tf_keras.models.load_model(tmp_path / "m.keras", compile=False)
    assert int(fresh.optimizer.iterations) == 0  # the builder's own Adam, untouched
    model.save_weights(tmp_path / "m.weights.h5")
    other = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))  # Adam: not RMSprop's state
    other.load_weights(tmp_path / "m.weights.h5")
    assert int(other.optimizer.iterations) == 0
    for a, b in zip(model.get_weights(), other.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_saving_to_a_place_that_cannot_be_written_is_one_line_and_leaves_nothing(tmp_path):
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
    (tmp_path / "file.txt").write_text("not a folder")
    for save, path in ((model.save, tmp_path / "missing" / "m.keras"),
                       (model.save, tmp_path / "file.txt" / "m.keras"),
                       (zoo.save, tmp_path / "file.txt" / "run"),
                       (zoo.save, "/proc/zoo_run")):
        with pytest.raises(ConfigError, match=rf"^cannot write {path} \(.+\); pick a folder "
                                              "you can write to$"):
            save(path) if save == model.save else save(model, path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
    model.save(tmp_path / "m.keras")
    with pytest.raises(ConfigError, match="m.keras exists; pass overwrite=True or pick"):
        model.save(tmp_path / "m.keras", overwrite=False)  # Keras's own meaning, kept
