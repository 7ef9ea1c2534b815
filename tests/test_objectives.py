"""The objective contract (``zoo.models.objectives.Objective``): a malformed objective is
refused in one line when its model is built, and the metrics an objective declares are
tracked by fit, evaluate and the tuners like the four standard ones."""

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo.errors import ConfigError, OverrideError
from zoo.models import networks, objectives, priors
from zoo.models.vae import VAE
from zoo.tuners import zoo_objective


def assembled(objective):
    encoder, decoder = networks.mlp((28, 28, 1), (16,), 2)
    return VAE(encoder, decoder, priors.StandardNormal(2), objective=objective, seed=1)


class OnlyValues:  # the contract as the module docstring once suggested it: not callable
    samples = 1

    def values(self, terms, warmup=1.0):
        return objectives.ELBO().values(terms, warmup)


class Returning(objectives.Objective):
    """An ELBO whose values are then changed by ``edit``."""

    def __init__(self, edit, metrics=None):
        self.edit = edit
        if metrics is not None:
            self.metrics = metrics

    def values(self, terms, warmup=1.0):
        return self.edit(objectives.ELBO().values(terms, warmup))


def without_kl(values):
    del values["kl"]
    return values


def failing(values):
    raise ValueError("a bug in the objective")


@pytest.mark.parametrize("objective, message", [
    (OnlyValues(), "objective OnlyValues is not callable: subclass "
                   "zoo.models.objectives.Objective"),
    (lambda model, inputs: {}, "must take (model, inputs, seed, warmup=1.0, training=False)"),
    (Returning(without_kl), "objective Returning returned no kl: an objective returns loss, "
                            "neg_elbo, reconstruction, kl"),
    (Returning(lambda v: {**v, "mmd": v["kl"]}),
     "returned mmd, which it does not declare: give it metrics = {'mmd': 'min'}"),
    (Returning(lambda v: {**v, "loss": tf.reduce_mean(v["loss"])}),
     "'loss' has shape (), not one value per example (2,)"),
    (Returning(lambda v: v, metrics={"mmd": "lower"}), "metric 'mmd' must say 'min' or 'max'"),
    (Returning(lambda v: v, metrics={"kl": "min"}), "metric 'kl' must be a Python name other "
                                                    "than loss, neg_elbo, reconstruction, kl"),
    (Returning(failing), "objective Returning failed on a batch of two blank images: "
                         "ValueError: a bug in the objective"),
])
def test_a_malformed_objective_is_refused_in_one_line_when_the_model_is_built(
        objective, message):
    with pytest.raises(ConfigError) as refused:
        assembled(objective)
    assert message in str(refused.value) and "\n" not in str(refused.value)


class PosteriorScale(objectives.ELBO):
    """The ELBO, tracking the mean posterior standard deviation: a metric that does not
    depend on the noise, so its average can be computed by hand."""

    metrics = {"posterior_scale": "max"}

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        values = super().__call__(model, inputs, seed, warmup, training)
        scale = model.posterior(inputs, training).stddev()
        return {**values, "posterior_scale": tf.reduce_mean(scale, axis=-1)}


def test_an_objectives_own_metric_is_tracked_by_fit_and_evaluate(test_images):
    model = assembled(PosteriorScale())
    model.compile(learning_rate=1e-3)
    x, validation = test_images[:192], test_images[192:320]
    history = model.fit(x, epochs=2, batch_size=64, validation_data=validation, verbose=0)
    assert model.metrics_names == ["loss", "neg_elbo", "reconstruction", "kl",
                                   "posterior_scale"]
    assert len(history.history["posterior_scale"]) == 2
    expected = np.mean(model.encoder(validation).stddev().numpy().mean(-1))
    assert history.history["val_posterior_scale"][-1] == pytest.approx(expected, rel=1e-5)
    evaluated = model.evaluate(validation, batch_size=50, verbose=0, return_dict=True)
    assert evaluated["posterior_scale"] == pytest.approx(expected, rel=1e-5)  # over batches
    assert set(evaluated) == {"loss", "neg_elbo", "reconstruction", "kl", "posterior_scale"}


def test_the_tuners_minimise_or_maximise_a_metric_as_its_objective_declares():
    assert zoo_objective("val_effective_sample_size").direction == "max"  # IWAE's
    assert zoo_objective("val_total_correlation").direction == "min"      # BetaTC's
    assert zoo_objective("val_posterior_scale").direction == "max"        # declared above
    assert zoo_objective("val_neg_elbo").direction == "min"


@pytest.mark.parametrize("kind", ["i", "ii"])
def test_the_dip_penalty_is_the_codes_covariance_against_the_identity(kind, test_images):
    """DIP-VAE's penalty by hand: the covariance (over the batch, divided by M) of the
    posterior means, plus the mean posterior covariance for DIP-VAE-II."""
    objective = objectives.DIP(kind=kind, lambda_od=3.0, lambda_d=7.0)
    model = assembled(objective)
    images = test_images[:64]
    values = objective(model, images, tf.constant([1, 2], tf.int64))
    posterior = model.encoder(images).tensor_distribution
    means, variances = posterior.mean().numpy(), posterior.variance().numpy()
    covariance = np.cov(means.T, bias=True)
    if kind == "ii":
        covariance += np.diag(variances.mean(0))
    off_diagonal = covariance - np.diag(np.diag(covariance))
    penalty = 3 * np.sum(off_diagonal ** 2) + 7 * np.sum((np.diag(covariance) - 1) ** 2)
    np.testing.assert_allclose(values["dip_penalty"], np.full(64, penalty), rtol=1e-4)
    np.testing.assert_allclose(values["loss"],
                               values["reconstruction"] + values["kl"] + penalty, rtol=1e-5)
    np.testing.assert_allclose(values["neg_elbo"], values["reconstruction"] + values["kl"])
    with pytest.raises(ConfigError, match="DIP kind must be one of i, ii, not 'iii'"):
        objectives.DIP(kind="iii")


def test_dip_vaes_diagonal_weight_is_a_factor_of_its_off_diagonal_one():
    """lambda_d = lambda_d_factor * lambda_od, as disentanglement_lib sets it: a search over
    lambda_od keeps their ratio."""
    model = zoo.get("dip_vae", lambda_od=2.5, lambda_d_factor=3.0, input_shape=(28, 28, 1),
                    filters=(4, 4, 8, 8), dense_units=8)
    assert (model.objective.lambda_od, model.objective.lambda_d) == (2.5, 7.5)
    with pytest.raises(OverrideError, match="the locatello_conv networks take 4 filters, one "
                                            "per kernel size 4,4,2,2, not 3; e.g. --set "
                                            "filters=32,32,64,64"):
        zoo.get("dip_vae", filters=(8, 8, 8))
