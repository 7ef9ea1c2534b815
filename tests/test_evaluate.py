"""The importance-sampled log-likelihood: unbiased at K=1, rising with K, exact in the limit."""

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import zoo
from zoo.errors import ConfigError
from zoo.evaluate import evaluation_step, log_likelihood


@pytest.fixture(scope="module")
def trained(load):
    """An mlp_vae with a 1-d latent, trained on real data until q(z|x) is a fair proposal
    (after a few hundred steps, q misses modes of p(z|x) and K=5000 falls nats short)."""
    tf_keras.utils.set_random_seed(2)
    model = zoo.get("mlp_vae", latent_dim=1, hidden_units=(16,))  # a smooth decoder
    model.fit(load("binarized_mnist", "train", 64).take(1500), verbose=0)
    return model


def exact_log_likelihood(model, x, grid_size=20001, bound=8.0):
    """log p(x) = log integral p(x|z) p(z) dz over a 1-d latent, by the trapezoid rule."""
    z = np.linspace(-bound, bound, grid_size, dtype=np.float32)[:, None]
    log_prior = model.prior.log_prob(z).numpy()                              # (grid,)
    rv_x = model.decoder(z)                                                   # p(x|z) on the grid
    log_px_given_z = np.stack([rv_x.log_prob(image[None]).numpy() for image in x],
                              axis=1)                                         # (grid, batch)
    weights = np.full(grid_size, bound * 2 / (grid_size - 1))
    weights[[0, -1]] /= 2
    return tf.reduce_logsumexp(log_px_given_z + (log_prior + np.log(weights))[:, None],
                               axis=0).numpy()


@pytest.fixture(scope="module")
def exact_32(trained, test_images):
    """The exact log p(x) of the first 32 test images, shape (32,)."""
    return exact_log_likelihood(trained, test_images[:32])


def test_k_5000_matches_the_exact_log_likelihood_by_quadrature(trained, test_images, exact_32):
    x, exact = test_images[:32], exact_32
    estimate = log_likelihood(trained, tf.constant(x), 5000, tf.constant([0, 0]),
                              chunk=512).numpy()
    assert -300 < exact.mean() < -100
    # An importance-sampling estimate: most examples within hundredths of a nat, a few
    # short where q(z|x) misses a mode of p(z|x), none far above (it is a lower bound in
    # expectation). A slip moves every example: log K by 8.5 nats, a chunk twice by 0.7.
    error = estimate - exact
    assert np.median(np.abs(error)) < 0.03
    assert error.max() < 0.2


def test_the_estimate_rises_with_k_and_k_1_is_the_elbo_in_expectation(
        trained, test_images, exact_32):
    x = test_images[:256]
    metrics = {k: zoo.evaluate(trained, x, samples=100, log_likelihood_samples=k, chunk=50,
                               verbose=0) for k in (1, 10, 100)}
    elbo = metrics[1]["elbo_nats"]
    k1, k10, k100 = (metrics[k]["log_likelihood_nats"] for k in (1, 10, 100))
    # One draw per image, 256 images: the standard error of the mean is below 1 nat.
    assert k1 == pytest.approx(elbo, abs=1.5)
    assert k1 < k10 < k100
    assert k100 - elbo > 0.2  # a real gap: the ELBO is a strict bound
    exact = exact_32.mean()
    estimate_32 = zoo.evaluate(trained, x[:32], log_likelihood_samples=100, verbose=0)
    assert estimate_32["log_likelihood_nats"] <= exact + 0.05


def test_chunking_does_not_change_the_estimate_beyond_sampling_noise(trained, test_images):
    x = tf.constant(test_images[:64])
    in_graph = tf.function(log_likelihood)  # traced, as zoo.evaluate runs it
    estimates = [in_graph(trained, x, 1000, tf.constant([1, 1]), chunk=chunk).numpy()
                 for chunk in (1000, 300, 7)]
    for odd_chunks in estimates[1:]:
        assert np.median(np.abs(odd_chunks - estimates[0])) < 0.06  # a lost chunk: > 0.1


def test_evaluation_is_seeded_and_evaluating_again_traces_nothing_anew(trained, test_images):
    first, again = (zoo.evaluate(trained, test_images[:64], samples=3, seed=5,
                                 log_likelihood_samples=20, verbose=0) for _ in range(2))
    assert first == again
    step = evaluation_step(trained, 3, 20, 100)  # the one both calls ran, traced once
    assert step.experimental_get_tracing_count() == 1
    other_seed = zoo.evaluate(trained, test_images[:64], samples=3, seed=6,
                              log_likelihood_samples=20, verbose=0)
    assert other_seed != first and step.experimental_get_tracing_count() == 1


@pytest.mark.parametrize("kwargs, message", [
    ({"log_likelihood_samples": 0}, "log_likelihood_samples must be an int >= 1, got 0"),
    ({"chunk": 2.5}, "chunk must be an int >= 1, got 2.5"),
])
def test_bad_evaluation_settings_are_refused(trained, test_images, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        zoo.evaluate(trained, test_images, **kwargs)


def test_a_dataset_name_evaluates_its_test_split_as_the_model_takes_it(trained, load):
    """A Bernoulli model gets the binarized split; a grey-level likelihood the grey levels
    (the same images as data.load with binarization="none")."""
    reference = zoo.evaluate(trained, load("binarized_mnist", "test"), verbose=0)
    assert zoo.evaluate(trained, "binarized_mnist", verbose=0) == reference
    assert reference["examples"] == 10000
    grey = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,), likelihood="gaussian")
    reference = zoo.evaluate(grey, load("fashion_mnist", "test", binarization="none"),
                             verbose=0)  # (prepares the data the name reads)
    assert zoo.evaluate(grey, "fashion_mnist", verbose=0) == reference
    with pytest.raises(zoo.ZooError, match="unknown dataset 'fashon_mnist'; did you mean"):
        zoo.evaluate(trained, "fashon_mnist")


def test_an_objectives_own_metrics_are_evaluated_over_every_example(test_images):
    """beta_tcvae's total correlation: the example-weighted mean, over 3 batches of 128, 128
    and 44 images, of the objective run on each batch with the batch's noise folded by -2;
    the ELBO's own terms are those of a model whose objective declares nothing."""
    model = zoo.get("beta_tcvae", latent_dim=3, hidden_units=(16,), dataset_size=300)
    images = test_images[:300]
    metrics = zoo.evaluate(model, images, samples=2, seed=5, verbose=0)
    by_hand = []
    for index, start in enumerate(range(0, 300, 128)):
        batch_seed = tf.random.experimental.stateless_fold_in(tf.constant([5, 0], tf.int64),
                                                              index)
        values = model.objective(model, images[start:start + 128],
                                 tf.random.experimental.stateless_fold_in(batch_seed, -2))
        by_hand.append(values["total_correlation"].numpy())
    assert [len(part) for part in by_hand] == [128, 128, 44]
    assert metrics["objective_metrics"] == {
        "total_correlation": pytest.approx(float(np.concatenate(by_hand).mean()), rel=1e-5)}
    plain = zoo.get("mlp_vae", latent_dim=3, hidden_units=(16,))
    assert "objective_metrics" not in zoo.evaluate(plain, images, verbose=0)
