"""Likelihood heads for grey and colour images: their maths, the data each accepts, and
every builder taking ``likelihood=``; real fashion_mnist grey levels."""

import math

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import zoo
from small import DISTINCT, small
from zoo.errors import ConfigError, DataError
from zoo.models import likelihoods
from zoo.models.likelihoods import DiscretizedLogisticMixture

LEVELS = np.arange(256, dtype=np.float32) / 255
SEED = tf.constant([5, 6], tf.int64)


@pytest.fixture(scope="module")
def grey(load):
    """512 fashion_mnist images with their 256 grey levels (binarization="none")."""
    images = np.concatenate([x for x, _ in load("fashion_mnist", "validation", 256,
                                                binarization="none").take(2)])
    assert set(np.unique(images * 255).round(3)) - set(range(256)) == set()
    assert len(np.unique(images)) > 100  # grey levels, not binary pixels
    return images


def test_the_discretized_logistic_mixture_is_a_distribution_over_256_levels():
    rng = np.random.default_rng(0)
    shape = (4, 6, 5)  # 24 pixels, 5 components; scales from very sharp to very wide
    scales = np.exp(rng.uniform(np.log(1e-4), np.log(3.0), shape)).astype(np.float32)
    mixture = DiscretizedLogisticMixture(rng.normal(size=shape).astype(np.float32),
                                         rng.uniform(-1.2, 1.2, shape).astype(np.float32),
                                         scales)
    masses = np.exp(mixture.log_prob(LEVELS.reshape(256, 1, 1)).numpy().astype(np.float64))
    np.testing.assert_allclose(masses.sum(axis=0), 1.0, atol=2e-4)
    np.testing.assert_allclose(mixture.mean(), (masses * LEVELS[:, None, None]).sum(0),
                               atol=1e-4)
    draws = mixture.sample(4000, seed=(1, 2)).numpy()
    assert set(np.unique(draws)) <= set(LEVELS)
    np.testing.assert_allclose(draws.mean(0), mixture.mean(), atol=0.03)
    # One component, by hand: the mass of an inner level is F(y + 1/255) - F(y - 1/255).
    one = DiscretizedLogisticMixture([[0.0]], [[0.2]], [[0.1]])
    y = 2 * (100 / 255) - 1
    cdf = lambda t: 1 / (1 + math.exp(-(t - 0.2) / 0.1))  # noqa: E731
    assert np.exp(one.log_prob([100 / 255]).numpy()).item() == pytest.approx(
        cdf(y + 1 / 255) - cdf(y - 1 / 255), rel=1e-4)
    # Far in a sharp component's tail (a mass of e^-139, 0 in float32) the log-mass is
    # still exact: the bin's density times its width would be 0.27 nats off here.
    sharp = DiscretizedLogisticMixture([[0.0]], [[0.2]], [[0.003]])
    sharp_cdf = lambda t: 1 / (1 + math.exp(-(t - 0.2) / 0.003))  # noqa: E731
    assert sharp.log_prob([100 / 255]).numpy().item() == pytest.approx(
        math.log(sharp_cdf(y + 1 / 255) - sharp_cdf(y - 1 / 255)), abs=1e-3)


@pytest.mark.parametrize("likelihood", ["continuous_bernoulli", "gaussian", "logistic_mixture"])
def test_each_head_trains_on_grey_levels_and_its_loss_is_tfps_log_prob(likelihood, grey):
    model = zoo.get("mlp_vae", latent_dim=4, hidden_units=(64,), likelihood=likelihood)
    history = model.fit(grey[:256], batch_size=64, epochs=2, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    x = grey[256:320]
    terms = model.terms(x, 2, SEED)
    rv_x = model.decoder(tf.reshape(terms.codes, [-1, 4]))   # the same codes, TFP's own
    by_hand = tf.reshape(rv_x.log_prob(tf.tile(x, [2, 1, 1, 1])), [2, 64])
    np.testing.assert_allclose(terms.log_likelihood, by_hand, rtol=1e-5)
    values = model.objective_values(x)
    assert np.isfinite(values["loss"]).all()


def test_bits_per_dimension_are_the_nats_over_d_ln_2(grey):
    model = zoo.get("mlp_vae", latent_dim=4, hidden_units=(64,), likelihood="logistic_mixture")
    model.fit(grey[:256], batch_size=64, verbose=0)
    metrics = zoo.evaluate(model, grey[256:], log_likelihood_samples=10, verbose=0)
    dimensions = 28 * 28 * 1
    assert metrics["elbo_bits_per_dim"] == pytest.approx(
        -metrics["elbo_nats"] / (dimensions * math.log(2)))
    assert metrics["log_likelihood_bits_per_dim"] == pytest.approx(
        -metrics["log_likelihood_nats"] / (dimensions * math.log(2)))
    assert 0 < metrics["log_likelihood_bits_per_dim"] <= metrics["elbo_bits_per_dim"] < 8
    assert "elbo_bits_per_dim" not in zoo.evaluate(zoo.get("mlp_vae", latent_dim=2),
                                                   (grey[:8] > 0.5).astype(np.float32),
                                                   verbose=0)


@pytest.mark.parametrize("name", DISTINCT)
def test_every_builder_takes_every_likelihood(name):
    for likelihood in likelihoods.LIKELIHOODS:
        model = small(name, latent_dim=2, likelihood=likelihood)  # small.py: the same head
        assert model.likelihood_head.data == {
            "bernoulli": "binary", "continuous_bernoulli": "unit", "gaussian": "real",
            "logistic_mixture": "8bit"}[likelihood]
        # (labels: for a cvae; a VQ-VAE's codes are a grid of latent_dim-vectors)
        codes, labels = tf.zeros((3, model.latent_dim)), np.zeros(3, np.int64)
        assert model.decode(codes, labels).mean().shape == (3, 28, 28, 1)


@pytest.mark.parametrize("name, likelihood", [("cnn_vae", "logistic_mixture"),
                                              ("mlp_vae", "gaussian")])
def test_colour_images_of_another_size_train(name, likelihood):
    x = np.random.default_rng(1).integers(0, 256, (64, 32, 32, 3)).astype(np.float32) / 255
    model = zoo.get(name, latent_dim=4, input_shape=(32, 32, 3), likelihood=likelihood)
    history = model.fit(x, batch_size=32, epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert model.decoder(tf.zeros((2, 4))).mean().shape == (2, 32, 32, 3)
    metrics = zoo.evaluate(model, x[:16], verbose=0)
    assert np.isfinite(metrics["elbo_nats"])


@pytest.mark.parametrize("likelihood, data, message", [
    ("logistic_mixture", np.full((8, 28, 28, 1), 0.3, np.float32),
     "training data has values that are not 8-bit levels k/255; the logistic mixture models"),
    ("continuous_bernoulli", np.full((8, 28, 28, 1), 1.5, np.float32),
     r"training data has values in \[1.5, 1.5\]; this likelihood is a density on \[0, 1\]"),
    ("gaussian", np.full((8, 28, 28, 1), np.nan, np.float32),
     "training data has NaN or infinite values; replace or drop them where the data are "
     r"made \(np.isfinite finds them\)"),
])
def test_each_likelihood_refuses_data_it_does_not_model_in_one_line(likelihood, data, message):
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,), likelihood=likelihood)
    for x in (data, tf.data.Dataset.from_tensor_slices(data).batch(4)):
        with pytest.raises(DataError) as error:
            model.fit(x, verbose=0)
        assert "\n" not in str(error.value)
    with pytest.raises(DataError, match=message):
        model.fit(data, verbose=0)
    model.fit(np.full((8, 28, 28, 1), 2 / 255 if likelihood != "gaussian" else -3.0,
                      np.float32), verbose=0)  # what it does model trains


def test_a_grey_likelihood_defaults_to_grey_data_and_saves_whole(grey, tmp_path):
    config = zoo.RunConfig(model="mlp_vae", dataset="fashion_mnist",
                           overrides={"likelihood": "logistic_mixture"}).resolved()
    assert config.binarization == "none"
    assert zoo.RunConfig(model="mlp_vae", dataset="fashion_mnist").resolved(
        ).binarization == "dynamic"
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,), likelihood="logistic_mixture")
    model.fit(grey[:64], verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = tf_keras.models.load_model(tmp_path / "m.keras")
    assert isinstance(reloaded.likelihood_head, likelihoods.LogisticMixture)
    assert [zoo.evaluate(m, grey[64:128], verbose=0) for m in (model, reloaded)] == [
        zoo.evaluate(model, grey[64:128], verbose=0)] * 2


def test_an_unknown_likelihood_name_is_one_line_naming_the_choices():
    with pytest.raises(ConfigError, match=r"unknown likelihood 'gausian'; did you mean "
                                          r"'gaussian'\? the likelihoods: bernoulli, "
                                          r"continuous_bernoulli, gaussian, logistic_mixture$"):
        likelihoods.head("gausian", (28, 28, 1))
