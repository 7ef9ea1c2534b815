"""Families made to disentangle, on disentanglement_lib's convolutional networks for 64x64
images of known factors (``networks.locatello_conv``; ``zoo.sprites``) and its training
settings: 10 latent dimensions, a Bernoulli decoder, Adam at 1e-4 (Locatello et al. 2019
trained them 300,000 steps of batch 64; ``zoo eval RUN --disentanglement`` scores them).

DIP-VAE (Kumar, Sattigeri & Balakrishnan 2018), ``objectives.DIP``::

    loss(x) = -log p(x|z) + KL(q(z|x) || p(z))
              + lambda_od * sum_{k != l} C_kl^2 + lambda_d * sum_k (C_kk - 1)^2

with C the batch covariance of the posterior means (``kind="i"``, DIP-VAE-I) or of the
codes under the batch's aggregate posterior (``"ii"``). lambda_d = ``lambda_d_factor`` *
lambda_od, as disentanglement_lib sets it, so that a search over lambda_od keeps their
ratio. Defaults: lambda_od = 10, lambda_d_factor = 10, disentanglement_lib's DIP-VAE-I
setting (its DIP-VAE-II: ``--set kind=ii,lambda_d_factor=1``).
"""

from zoo.models import networks
from zoo.models.likelihoods import Likelihood
from zoo.models.objectives import DIP, DIP_KINDS
from zoo.models.priors import StandardNormal
from zoo.models.registry import (FloatRange, ImageShape, IntRange, NonNegativeFloat,
                                 PositiveFloat, PositiveInt, Widths, one_of, register)
from zoo.models.vae import VAE, compiled

SPACE = {"latent_dim": IntRange(6, 16), "lambda_od": FloatRange(1.0, 50.0),
         "learning_rate": FloatRange(1e-4, 1e-3)}


@register("dip_vae", space=SPACE)
def dip_vae(latent_dim: PositiveInt = 10, kind: one_of(*DIP_KINDS) = "i",
            lambda_od: NonNegativeFloat = 10.0, lambda_d_factor: NonNegativeFloat = 10.0,
            filters: Widths = networks.LOCATELLO_FILTERS,
            dense_units: PositiveInt = networks.LOCATELLO_DENSE,
            input_shape: ImageShape = (64, 64, 1), learning_rate: PositiveFloat = 1e-4,
            likelihood: Likelihood = "bernoulli"):
    """DIP-VAE (Kumar et al. 2018): the codes' covariance pushed toward the identity.

    On disentanglement_lib's 64x64 conv nets (``networks.locatello_conv``)."""
    encoder, decoder = networks.locatello_conv(input_shape, latent_dim, likelihood,
                                               filters=filters, dense=dense_units)
    model = VAE(encoder, decoder, StandardNormal(latent_dim),
                objective=DIP(kind=kind, lambda_od=lambda_od, lambda_d=lambda_d_factor * lambda_od))
    return compiled(model, learning_rate)
