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

FactorVAE (Kim & Mnih 2018), ``objectives.FactorTC`` and ``FactorVAE``::

    loss(x) = -log p(x|z) + KL(q(z|x) || p(z)) + gamma * TC(z)

with the total correlation TC estimated by a discriminator of codes against codes whose
dimensions were permuted across the batch (six dense layers of 1000, leaky ReLU), trained
by its own Adam (1e-4, beta_1 0.5, beta_2 0.9: disentanglement_lib's) in the same
training step. Default gamma = 30, inside disentanglement_lib's study grid (10 to 100).
The discriminator adds 5.0 million weights to the networks' 0.69 million, and its two
passes to every step.

AnnealedVAE (Burgess et al. 2018), ``objectives.AnnealedCapacity``::

    loss(x) = -log p(x|z) + gamma * |KL - C(t)|,   C(t) = c_max * min(1, t / threshold)

with KL the batch's mean and t the training step. Defaults: Burgess et al.'s dSprites
setting (gamma = 1000, C to 25 nats over 100,000 steps; disentanglement_lib's study:
c_max from 5 to 100); a shorter run sets ``iteration_threshold`` to its own length.
"""

import tf_keras

from zoo.models import networks
from zoo.models.adversarial import Discriminated
from zoo.models.likelihoods import Likelihood
from zoo.models.objectives import DIP, DIP_KINDS, AnnealedCapacity, FactorTC
from zoo.models.priors import StandardNormal
from zoo.models.registry import (FloatRange, ImageShape, IntRange, NonNegativeFloat,
                                 PositiveFloat, PositiveInt, Widths, one_of,
                                 register)
from zoo.models.vae import VAE, compiled

SPACE = {"latent_dim": IntRange(6, 16), "lambda_od": FloatRange(1.0, 50.0),
         "learning_rate": FloatRange(1e-4, 1e-3)}
FACTOR_SPACE = {"latent_dim": IntRange(6, 16), "gamma": FloatRange(10.0, 100.0),
                "learning_rate": FloatRange(1e-4, 1e-3)}
ANNEALED_SPACE = {"latent_dim": IntRange(6, 16), "c_max": FloatRange(5.0, 100.0),
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
    return locatello_vae(DIP(kind=kind, lambda_od=lambda_od,
                             lambda_d=lambda_d_factor * lambda_od),
                         latent_dim, filters, dense_units, input_shape, learning_rate,
                         likelihood)


def locatello_vae(objective, latent_dim, filters, dense_units, input_shape, learning_rate,
                  likelihood):
    """A VAE of ``objective`` on disentanglement_lib's conv nets, N(0, I) prior, compiled."""
    encoder, decoder = networks.locatello_conv(input_shape, latent_dim, likelihood,
                                               filters=filters, dense=dense_units)
    return compiled(VAE(encoder, decoder, StandardNormal(latent_dim), objective=objective),
                    learning_rate)


@tf_keras.utils.register_keras_serializable(package="zoo")
class FactorVAE(Discriminated):
    """A VAE with a ``discriminator`` of its codes (codes -> two logits) trained by an Adam
    of its own inside the model's one training step (``adversarial.Discriminated``), at
    ``discriminator_learning_rate`` with beta_1 0.5, beta_2 0.9 (disentanglement_lib's);
    the model's optimizer trains the encoder and decoder. Objective: ``objectives.
    FactorTC``. A leaderboard row's weights file leaves the discriminator out (5.0 M
    weights, 20 MB as float32 at the default units: over a row file's 10 MiB): the row's
    model encodes, decodes and gives its ELBO as trained; fine-tuning it trains a new
    discriminator from its start."""

    ROW_LEAVES_OUT = ("discriminator",)

    def __init__(self, encoder, decoder, prior_layer, discriminator, objective=FactorTC(),
                 discriminator_learning_rate=1e-4, **kwargs):
        super().__init__(encoder, decoder, prior_layer, discriminator, objective,
                         discriminator_learning_rate, discriminator_betas=(0.5, 0.9),
                         **kwargs)


@register("factor_vae", space=FACTOR_SPACE)
def factor_vae(latent_dim: PositiveInt = 10, gamma: NonNegativeFloat = 30.0,
               filters: Widths = networks.LOCATELLO_FILTERS,
               dense_units: PositiveInt = networks.LOCATELLO_DENSE,
               discriminator_units: Widths = networks.DISCRIMINATOR_UNITS,
               discriminator_learning_rate: PositiveFloat = 1e-4,
               input_shape: ImageShape = (64, 64, 1), learning_rate: PositiveFloat = 1e-4,
               likelihood: Likelihood = "bernoulli"):
    """FactorVAE (Kim & Mnih 2018): a discriminator's total correlation estimate, by gamma.

    On disentanglement_lib's 64x64 conv nets (``networks.locatello_conv``)."""
    encoder, decoder = networks.locatello_conv(input_shape, latent_dim, likelihood,
                                               filters=filters, dense=dense_units)
    model = FactorVAE(encoder, decoder, StandardNormal(latent_dim),
                      networks.discriminator(latent_dim, discriminator_units),
                      objective=FactorTC(gamma=gamma),
                      discriminator_learning_rate=discriminator_learning_rate)
    return compiled(model, learning_rate)


@register("annealed_vae", space=ANNEALED_SPACE)
def annealed_vae(latent_dim: PositiveInt = 10, gamma: NonNegativeFloat = 1000.0,
                 c_max: NonNegativeFloat = 25.0, iteration_threshold: PositiveInt = 100_000,
                 filters: Widths = networks.LOCATELLO_FILTERS,
                 dense_units: PositiveInt = networks.LOCATELLO_DENSE,
                 input_shape: ImageShape = (64, 64, 1), learning_rate: PositiveFloat = 1e-4,
                 likelihood: Likelihood = "bernoulli"):
    """AnnealedVAE (Burgess et al. 2018): the KL held at a capacity rising to c_max nats.

    On disentanglement_lib's 64x64 conv nets (``networks.locatello_conv``)."""
    return locatello_vae(AnnealedCapacity(gamma=gamma, c_max=c_max,
                                          iteration_threshold=iteration_threshold),
                         latent_dim, filters, dense_units, input_shape, learning_rate,
                         likelihood)
