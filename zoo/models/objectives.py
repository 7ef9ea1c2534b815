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

from zoo.models import replicas

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
    """Per-sample terms of a batch: ``(samples, batch)`` tensors, and the KL ``(batch,)``;
    with the posterior q(z|x) and the codes ``(samples, batch, latent)`` they came from
    (of the top layer in a hierarchical model)."""

    log_likelihood: tf.Tensor
    log_prior: tf.Tensor
    log_posterior: tf.Tensor
    kl: tf.Tensor
    posterior: object = None
    codes: tf.Tensor = None

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

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        """The per-example values on the model's ``inputs`` (images; with labels for a
        conditional model), codes drawn from ``seed``."""
        return self.values(model.terms(inputs, self.samples, seed, training), warmup)

    def values(self, terms, warmup=1.0):
        """``loss``, ``neg_elbo``, ``reconstruction`` and ``kl`` from the terms."""
        reconstruction = terms.reconstruction
        return {"loss": reconstruction + warmup * self.beta * terms.kl,
                "neg_elbo": reconstruction + terms.kl,
                "reconstruction": reconstruction, "kl": terms.kl}

    def get_config(self):
        return dataclasses.asdict(self)


GRADIENTS = ("iwae", "dreg")


@dataclasses.dataclass(frozen=True)
class BetaTC:
    """The beta-TCVAE objective (Chen et al. 2018): the KL split into index-code mutual
    information, total correlation and dimension-wise KL, the TC weighted by beta::

        loss(x_i) = -log p(x_i|z_i) + w * [MI_i + beta * TC_i + DKL_i],    z_i ~ q(z|x_i)
        MI_i  = log q(z_i|x_i) - log q(z_i)
        TC_i  = log q(z_i) - sum_d log q(z_id)
        DKL_i = sum_d log q(z_id) - log p(z_i)

    with the aggregate posterior estimated by minibatch-weighted sampling over the batch
    of M examples from a dataset of N (``dataset_size``)::

        log q(z_i)    ~= log sum_j q(z_i|x_j) - log(N M)
        log q(z_id)   ~= log sum_j q(z_id|x_j) - log(N M)

    MI + TC + DKL = log q(z_i|x_i) - log p(z_i), so at beta = 1 the loss is the negative
    ELBO with a Monte Carlo KL. Under several replicas, j runs over the *global* batch (the
    posteriors' parameters are gathered from every replica), so N replicas compute what one
    device does, however a last partial batch is split. For posteriors with a diagonal
    scale; one sample per example; ``w`` is the KL warm-up factor.
    """

    # TensorFlow's collectives keep the shape of their first call within one execution of
    # a multi-step loop: a gather of a last partial batch then aborts ("Shape mismatch in
    # the collective instance"). The model runs one step per execution under replicas.
    gathers_rows = True

    beta: float = 6.0
    dataset_size: int = 50_000

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        """The per-example values on the model's ``inputs`` (images; with labels for a
        conditional model), codes drawn from ``seed``."""
        return self.values(model.terms(inputs, 1, seed, training), warmup)

    def values(self, terms, warmup=1.0):
        """``loss`` and the true ``neg_elbo``, ``reconstruction`` and ``kl``."""
        posterior = getattr(terms.posterior, "tensor_distribution", terms.posterior)
        loc, scale = posterior.mean(), posterior.stddev()
        loc, scale = replicas.gather_rows(loc), replicas.gather_rows(scale)  # whole batch
        z = terms.codes[0]                                                   # (M, d)
        pairs = tfd.Normal(loc, scale).log_prob(z[:, None, :])               # (M, M_all, d)
        log_nm = tf.math.log(tf.cast(self.dataset_size * tf.shape(loc)[0], z.dtype))
        log_aggregate = tf.reduce_logsumexp(tf.reduce_sum(pairs, -1), axis=1) - log_nm
        log_marginals = tf.reduce_sum(tf.reduce_logsumexp(pairs, axis=1) - log_nm, -1)
        mutual_information = terms.log_posterior[0] - log_aggregate
        total_correlation = log_aggregate - log_marginals
        dimension_kl = log_marginals - terms.log_prior[0]
        reconstruction = terms.reconstruction
        rate = mutual_information + self.beta * total_correlation + dimension_kl
        return {"loss": reconstruction + warmup * rate,
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

    ``gradient = "dreg"``: the doubly reparameterised estimator (Tucker et al. 2018). With
    normalised weights ``v_k = softmax(log_weights)_k``, the decoder's (and prior's)
    gradient stays ``sum_k v_k grad log_weights_k``, and the encoder's becomes
    ``sum_k v_k^2 (d log_weights_k / d z_k)(d z_k / d phi)`` with log q's parameters held
    fixed: the score-function term, whose variance grows with k, is gone. Computed as the
    gradient of a surrogate (a second pass with ``code_gradient_weights = v``); the loss's
    value is the bound's.
    """

    samples: int = 5
    gradient: str = "iwae"

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        """The per-example values on the model's ``inputs`` (images; with labels for a
        conditional model), codes drawn from ``seed``."""
        del warmup
        terms = model.terms(inputs, self.samples, seed, training)
        values = self.values(terms)
        if self.gradient == "dreg":
            weights = tf.stop_gradient(tf.nn.softmax(terms.log_weights, axis=0))
            held = model.terms(inputs, self.samples, seed, training, code_gradient_weights=weights)
            surrogate = -tf.reduce_sum(weights * held.log_weights, axis=0)
            values["loss"] = (tf.stop_gradient(values["loss"])
                              + surrogate - tf.stop_gradient(surrogate))
        return values

    def values(self, terms, warmup=1.0):
        """``loss`` (the negative bound), ``neg_elbo``, ``reconstruction``, ``kl``."""
        del warmup
        bound = (tf.reduce_logsumexp(terms.log_weights, axis=0)
                 - tf.math.log(tf.cast(self.samples, terms.log_weights.dtype)))
        reconstruction = terms.reconstruction
        return {"loss": -bound, "neg_elbo": reconstruction + terms.kl,
                "reconstruction": reconstruction, "kl": terms.kl}

    def get_config(self):
        return dataclasses.asdict(self)
