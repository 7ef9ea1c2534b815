"""Samplers of codes beyond the prior, fitted on a trained model's codes of its training
images (the posterior means, ``model.encode``), for ``model.sample(n, sampler=...)``.

- ``prior``: the model's own p(z) (a VampPrior or a mixture included), fitted on nothing;
- ``gmm``: a Gaussian mixture on the codes, ``components`` full-covariance Gaussians (10,
  as pythae's GaussianMixtureSampler), fitted by scikit-learn's ``GaussianMixture`` (EM,
  k-means initialisation, seeded), drawn through TFP's ``MixtureSameFamily``.

A fitted sampler ``save``s to one ``.npz`` file (its parameters and how it was fitted) and
``load``s from it; ``sample(n, seed)`` gives codes (n, latent_dim), the same for the same
stateless seed.
"""

import dataclasses
import json
import pathlib

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import files
from zoo.errors import ConfigError, did_you_mean

tfd = tfp.distributions
SAMPLERS = ("prior", "gmm")
GMM_COMPONENTS = 10  # pythae's


@dataclasses.dataclass
class Prior:
    """The model's prior p(z)."""

    model: object
    kind = "prior"

    def sample(self, n, seed):
        return self.model.prior.sample(n, seed=seed)


@dataclasses.dataclass
class GaussianMixture:
    """A mixture of full-covariance Gaussians over the codes: ``weights`` (K,), ``means``
    (K, d), ``covariances`` (K, d, d), float64; ``fitted``: how (codes, seed, iterations,
    the training codes' mean log-density)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    fitted: dict = dataclasses.field(default_factory=dict)
    kind = "gmm"

    @classmethod
    def fit(cls, codes, components=GMM_COMPONENTS, seed=0):
        from sklearn.mixture import GaussianMixture as EM

        codes = np.asarray(codes, np.float64)
        if len(codes) < components:
            raise ConfigError(f"a mixture of {components} Gaussians needs at least as many "
                              f"codes; got {len(codes)}")
        em = EM(components, covariance_type="full", random_state=seed).fit(codes)
        return cls(em.weights_, em.means_, em.covariances_,
                   {"codes": len(codes), "seed": seed, "iterations": int(em.n_iter_),
                    "converged": bool(em.converged_),
                    "mean_log_density": float(em.score(codes))})

    def distribution(self):
        return tfd.MixtureSameFamily(
            tfd.Categorical(probs=tf.constant(self.weights, tf.float32)),
            tfd.MultivariateNormalTriL(
                tf.constant(self.means, tf.float32),
                tf.constant(np.linalg.cholesky(self.covariances), tf.float32)))

    def sample(self, n, seed):
        return self.distribution().sample(n, seed=seed)


def fit(kind, model, images, seed=0, batch_size=500, components=GMM_COMPONENTS):
    """The sampler ``kind`` (one of SAMPLERS) of ``model``, fitted on the codes of
    ``images`` (an array, or a dataset of image batches or of (images, ...) batches)."""
    if kind not in SAMPLERS:
        raise ConfigError(f"unknown sampler '{kind}'; {did_you_mean(kind, SAMPLERS)}use one "
                          f"of {', '.join(SAMPLERS)}")
    if kind == "prior":
        return Prior(model)
    return GaussianMixture.fit(codes_of(model, images, batch_size), components, seed)


def codes_of(model, images, batch_size=500):
    """The codes (``model.encode``: posterior means) of ``images``, float64 (n, d)."""
    if isinstance(images, tf.data.Dataset):
        batches = (batch[0] if isinstance(batch, (tuple, list)) else batch
                   for batch in images)
    else:
        images = np.asarray(images, np.float32)
        batches = (images[start:start + batch_size]
                   for start in range(0, len(images), batch_size))
    return np.concatenate([np.asarray(model.encode(batch), np.float64) for batch in batches])


def save(sampler, path):
    """Writes a fitted GaussianMixture to ``path`` (.npz), atomically; returns the path."""
    path = pathlib.Path(path)
    if not isinstance(sampler, GaussianMixture):
        raise ConfigError(f"the {sampler.kind} sampler is the model's own: nothing to save")
    with files.atomic_path(path) as partial:
        with open(partial, "wb") as handle:
            np.savez(handle, kind=sampler.kind, weights=sampler.weights, means=sampler.means,
                     covariances=sampler.covariances,
                     fitted=json.dumps(sampler.fitted))
    return path


def load(path):
    """The sampler ``save`` wrote to ``path``."""
    with np.load(path) as held:
        if str(held["kind"]) != GaussianMixture.kind:
            raise ConfigError(f"{path} holds a {held['kind']} sampler, which the zoo does not "
                              "read")
        return GaussianMixture(held["weights"], held["means"], held["covariances"],
                               json.loads(str(held["fitted"])))
