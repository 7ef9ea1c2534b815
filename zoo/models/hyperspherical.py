"""The hyperspherical VAE, S-VAE (Davidson et al. 2018): codes on the unit sphere
S^(d-1) of R^d, a von Mises-Fisher posterior and the uniform prior on the sphere::

    q(z|x) = vMF(mu(x), kappa(x)),   p(z) = U(S^(d-1))
    loss(x) = -log p(x|z) + KL(q(z|x) || p(z)),   z ~ q(z|x)

with TFP's ``tfd.VonMisesFisher`` and ``tfd.SphericalUniform``
(``zoo.models.posteriors.VonMisesFisher``, ``zoo.models.priors.SphericalUniform``). The KL
is analytic, TFP's registered one (the uniform's entropy minus the vMF's, through Bessel
functions); codes are drawn by Wood's rejection sampler
(``posteriors.von_mises_fisher_codes``). ``latent_dim`` is d, the sphere's ambient
dimension. Davidson et al.'s MNIST networks: MLPs 256-128, ReLU.
"""

from typing import Annotated

from zoo.models import networks
from zoo.models.likelihoods import Likelihood
from zoo.models.posteriors import VonMisesFisher
from zoo.models.priors import SphericalUniform
from zoo.models.registry import (Check, FloatRange, ImageShape, IntRange, PositiveFloat,
                                 Widths, register)
from zoo.models.vae import VAE, compiled

# d, the sphere's ambient dimension: S^1 (a circle) at least
SphereDimension = Annotated[int, Check(int, lambda v: v >= 2,
                                       "an int >= 2, the sphere's ambient dimension")]
SPACE = {"latent_dim": IntRange(3, 40, log=True), "learning_rate": FloatRange(1e-4, 3e-3)}


@register("svae", space=SPACE)
def svae(latent_dim: SphereDimension = 10, hidden_units: Widths = (256, 128),
         input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-3,
         likelihood: Likelihood = "bernoulli"):
    """Hyperspherical VAE (Davidson et al. 2018): a vMF posterior, uniform prior on S^(d-1)."""
    posterior = VonMisesFisher(latent_dim, name="q_z_given_x")
    encoder, decoder = networks.mlp(input_shape, hidden_units, latent_dim, posterior=posterior,
                                    likelihood=likelihood)
    return compiled(VAE(encoder, decoder, SphericalUniform(latent_dim)), learning_rate)
