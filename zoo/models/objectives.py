"""Training objectives, in nats per example, from a model's per-sample terms.

For each example x and codes ``z_s ~ q(z|x)``, s = 1..S, a model gives (``VAE.terms``)::

    log p(x|z_s), log p(z_s), log q(z_s|x)        shape (S, batch)
    log_weights_s = log p(x|z_s) + log p(z_s) - log q(z_s|x)
    kl(x) = KL(q(z|x) || p(z))   analytic where TFP registers it, else
            (1/S) sum_s [log q(z_s|x) - log p(z_s)]    (Monte Carlo, TFP's use_exact_kl idea)

An objective maps them to the per-example ``loss`` the optimizer minimises and to the
metrics ``neg_elbo``, ``reconstruction`` and ``kl`` (the true, beta = 1 quantities).
"""

import dataclasses

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions


def kl_divergence(posterior, prior, log_posterior, log_prior):
    """``KL(q || p)`` per example: analytic if TFP registers one for the pair, else the
    Monte Carlo mean over the samples of ``log q(z_s|x) - log p(z_s)`` (both given)."""
    try:
        return tfd.kl_divergence(posterior, prior)
    except NotImplementedError:
        return tf.reduce_mean(log_posterior - log_prior, axis=0)


@dataclasses.dataclass(frozen=True)
class Terms:
    """Per-sample terms of a batch: ``(samples, batch)`` tensors, and the KL ``(batch,)``."""

    log_likelihood: tf.Tensor
    log_prior: tf.Tensor
    log_posterior: tf.Tensor
    kl: tf.Tensor

    @property
    def log_weights(self):
        """``log p(x|z_s) + log p(z_s) - log q(z_s|x)``: the importance weights of p(x)."""
        return self.log_likelihood + self.log_prior - self.log_posterior

    @property
    def reconstruction(self):
        """``-(1/S) sum_s log p(x|z_s)``: the distortion, nats per example."""
        return -tf.reduce_mean(self.log_likelihood, axis=0)


@dataclasses.dataclass(frozen=True)
class ELBO:
    """The beta-weighted negative ELBO (Kingma & Welling 2014; Higgins et al. 2017)::

        loss(x) = -(1/S) sum_s log p(x|z_s) + w * beta * KL(q(z|x) || p(z))

    ``w`` is the KL warm-up factor, rising from 0 to 1 (Sønderby et al. 2016); with
    ``beta = 1`` and ``w = 1`` the loss is the negative ELBO. ``samples`` is S.
    """

    beta: float = 1.0
    samples: int = 1

    def __call__(self, terms, warmup=1.0):
        reconstruction = terms.reconstruction
        return {"loss": reconstruction + warmup * self.beta * terms.kl,
                "neg_elbo": reconstruction + terms.kl,
                "reconstruction": reconstruction, "kl": terms.kl}

    def get_config(self):
        return dataclasses.asdict(self)


@dataclasses.dataclass(frozen=True)
class IWAE:
    """The importance-weighted bound with ``samples`` = k codes (Burda et al. 2016)::

        loss(x) = -[log sum_k exp(log_weights_k) - log k]

    a tighter bound on log p(x) than the ELBO, equal to it in expectation at k = 1. No KL
    warm-up (``warmup`` is ignored). The metrics are the ELBO's from the same samples.
    """

    samples: int = 5

    def __call__(self, terms, warmup=1.0):
        del warmup
        bound = (tf.reduce_logsumexp(terms.log_weights, axis=0)
                 - tf.math.log(tf.cast(self.samples, terms.log_weights.dtype)))
        reconstruction = terms.reconstruction
        return {"loss": -bound, "neg_elbo": reconstruction + terms.kl,
                "reconstruction": reconstruction, "kl": terms.kl}

    def get_config(self):
        return dataclasses.asdict(self)
