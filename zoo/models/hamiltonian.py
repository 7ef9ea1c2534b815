"""The Hamiltonian VAE (Caterini, Doucet & Sejdinovic 2018): a posterior draw moved by
``n_lf`` leapfrog steps of Hamiltonian dynamics on the target p(x, z), with tempering of
the momentum, and the ELBO of the extended space (z, rho)::

    z_0 ~ q(z|x),  g ~ N(0, I),  rho_0 = g / sqrt(beta_0)
    for k = 1..K:  rho' = rho + (eps/2) grad_z log p(x, z);   z = z + eps rho'
                   rho'' = rho' + (eps/2) grad_z log p(x, z)
                   rho = sqrt(beta_{k-1} / beta_k) rho''
    1/sqrt(beta_k) = (1 - 1/sqrt(beta_0)) (k/K)^2 + 1/sqrt(beta_0)     (beta_K = 1)

    log w = log p(x|z_K) + log p(z_K) + log N(rho_K; 0, I) - log q(z_0|x) - log N(g; 0, I)

The leapfrog steps preserve volume and the tempering scales it by beta_0^(d/2), which the
density of rho_0 = g / sqrt(beta_0) cancels, so w is an importance weight of p(x) on the
extended space: its mean is p(x) (``zoo.evaluate``'s importance-sampled log-likelihood
holds), its log's mean a lower bound (the ELBO; the ``kl`` metric is the Monte Carlo
``log q(z_0, g) - log p(z_K, rho_K)``, nats). The steps' gradients are taken inside the
model's own step (second derivatives reach the encoder and decoder through them).
``n_lf``, ``eps`` and ``beta_0`` are fixed (pythae's HVAE: ``learn_eps_lf`` and
``learn_beta_zero`` False by default); the networks are mlp_vae's.
"""

from typing import Annotated

import tensorflow as tf
import tf_keras

from zoo.models import networks
from zoo.models.gaussians import DiagonalNormal
from zoo.models.likelihoods import Likelihood, log_likelihood
from zoo.models.objectives import Terms
from zoo.models.posteriors import reparameterized_sample
from zoo.models.priors import StandardNormal
from zoo.models.registry import (Check, FloatRange, ImageShape, IntRange, NonNegativeInt,
                                 PositiveFloat, PositiveInt, Widths, register)
from zoo.models.vae import VAE, compiled

SPACE = {"latent_dim": IntRange(8, 64, log=True), "n_lf": IntRange(1, 8),
         "eps": FloatRange(1e-3, 0.1), "learning_rate": FloatRange(1e-4, 3e-3)}

# beta_0, the momentum's starting inverse temperature
InverseTemperature = Annotated[float, Check(float, lambda v: 0 < v <= 1,
                                            "a float in (0, 1], the first inverse temperature")]
_MOMENTUM_NOISE = -3  # the stream of g, beside the codes' (see objectives.Objective)


def leapfrog(z, rho, grad, eps, gradient):
    """One leapfrog step of ``H(z, rho) = -log p(x, z) + |rho|^2 / 2``: half a step of
    momentum, a whole one of position, half of momentum. ``grad`` is grad_z log p(x, z) at
    ``z``; ``gradient(z)`` is ``(grad_z log p(x, z), what else it computed)`` at a new
    position. Returns ``(z, rho, grad, what else)`` at the new position, its gradient the
    next step's start (one decoder pass a step). Volume-preserving and reversible
    (negating rho retraces it)."""
    rho = rho + eps / 2 * grad
    z = z + eps * rho
    grad, extra = gradient(z)
    return z, rho + eps / 2 * grad, grad, extra


def tempering(k, steps, beta_zero):
    """``sqrt(beta_k)``, Caterini et al.'s quadratic schedule from sqrt(beta_0) to 1 (1
    throughout without steps: the momentum is then g itself)."""
    if not steps:
        return 1.0
    inverse_root = 1 / beta_zero ** 0.5
    return 1 / ((1 - inverse_root) * (k / steps) ** 2 + inverse_root)


@tf_keras.utils.register_keras_serializable(package="zoo")
class HamiltonianVAE(VAE):
    """A VAE whose codes are moved by ``n_lf`` tempered leapfrog steps of size ``eps``
    from ``beta_zero`` (see the module's docstring); ``model.terms`` gives the extended
    space's log-densities, so every objective and ``zoo.evaluate`` take them as they are.
    ``model(x)``, ``encode`` and the pictures use q(z|x) itself."""

    def __init__(self, encoder, decoder, prior_layer, n_lf=3, eps=0.01, beta_zero=0.3,
                 **kwargs):
        self.n_lf, self.eps, self.beta_zero = n_lf, eps, beta_zero
        super().__init__(encoder, decoder, prior_layer, **kwargs)

    def terms(self, inputs, samples=1, seed=(0, 0), training=False,
              code_gradient_weights=None):
        if code_gradient_weights is not None:
            raise NotImplementedError("doubly reparameterised gradients are for q(z|x) "
                                      "alone, not the leapfrog steps; use gradient = \"iwae\"")
        seed = tf.cast(seed, tf.int64)
        posterior, prior = self.posterior(inputs, training), self.prior
        z = reparameterized_sample(posterior, samples, seed)                 # (S, batch, d)
        standard = DiagonalNormal(tf.zeros_like(z[0]), tf.ones_like(z[0]))  # per row
        g = reparameterized_sample(standard, samples, tf.random.experimental.stateless_fold_in(
            seed, _MOMENTUM_NOISE))                                          # the rows' own
        log_start = posterior.log_prob(z) + standard.log_prob(g)
        images = self.images_of(inputs)

        def gradient(codes):
            with tf.GradientTape() as tape:
                tape.watch(codes)
                rv_x = self.decode(tf.reshape(codes, [-1, codes.shape[-1]]), inputs, training)
                log_lik = log_likelihood(rv_x, images, samples)                # (S, batch)
                log_joint = log_lik + prior.log_prob(codes)
            return tape.gradient(log_joint, codes), log_lik

        root = tempering(0, self.n_lf, self.beta_zero)
        rho = g / root
        if not self.n_lf:  # no steps: q(z|x)'s own codes, decoded once
            log_lik = log_likelihood(self.decode(tf.reshape(z, [-1, z.shape[-1]]), inputs,
                                                 training), images, samples)
        else:
            grad = gradient(z)[0]
        for k in range(1, self.n_lf + 1):
            z, rho, grad, log_lik = leapfrog(z, rho, grad, self.eps, gradient)
            next_root = tempering(k, self.n_lf, self.beta_zero)
            rho, root = rho * root / next_root, next_root
        log_end = prior.log_prob(z) + standard.log_prob(rho)
        return Terms(log_lik, log_end, log_start,
                     tf.reduce_mean(log_start - log_end, axis=0), posterior, z)


@register("hamiltonian_vae", space=SPACE)
def hamiltonian_vae(latent_dim: PositiveInt = 32, hidden_units: Widths = (512, 256),
                    n_lf: NonNegativeInt = 3, eps: PositiveFloat = 0.01,
                    beta_zero: InverseTemperature = 0.3, input_shape: ImageShape = (28, 28, 1),
                    learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli"):
    """Hamiltonian VAE (Caterini et al. 2018): codes moved by tempered leapfrog steps."""
    encoder, decoder = networks.mlp(input_shape, hidden_units, latent_dim,
                                    likelihood=likelihood)
    model = HamiltonianVAE(encoder, decoder, StandardNormal(latent_dim), n_lf=n_lf, eps=eps,
                           beta_zero=beta_zero)
    return compiled(model, learning_rate)
