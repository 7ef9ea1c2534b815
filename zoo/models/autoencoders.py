"""Autoencoders without a KL: deterministic codes ``z = f(x)`` (``posteriors.PointMass``),
a decoder ending in the likelihood head, and an objective without a bound::

    ae       loss(x) = -log p(x|z)                                   (objectives.Reconstruction)
    rae_l2   loss(x) = -log p(x|z) + b |z|^2/2 + c |theta_dec|^2/2   (objectives.RAE, "l2")
    rae_gp   loss(x) = -log p(x|z) + b |z|^2/2 + c |d/dz sum E[x|z]|^2   (RAE, "gp")
    wae_mmd  loss(x) = -log p(x|z) + lam MMD(q(z), p(z))             (objectives.WAE)
    aae      loss(x) = -log p(x|z) - weight log D(z)                 (objectives.Adversarial)
             a discriminator D of codes against prior draws, its own Adam in the same step

in nats per example but for the penalties (squared code, weight or kernel units, added as
the papers add them). The point mass has no density on the continuous code space, so
these models have no ELBO and no log p(x): ``zoo.evaluate`` reports their reconstruction
and says why, runs watch ``val_loss``, and they are judged by the samples a sampler
fitted on their codes makes (``zoo.samplers``: the Gaussian mixture; the "prior", a
standard normal, is what a WAE's codes are trained toward and the other three's plain
baseline). The networks are cnn_vae's (stride-2 convolutions, a dense layer, transposed
convolutions), so a row here and cnn_vae's differ in their codes and objective alone.

Ghosh et al. 2020 (RAE); Tolstikhin et al. 2018 (WAE; ``mmd_vae`` with ``alpha = 1`` is
its stochastic cousin); Makhzani et al. 2016 (AAE). The penalties' defaults are pythae's,
and so are the AAE's discriminator's width (one hidden layer of 256; leaky ReLU here) and
rates (1e-4 for both Adams); its adversarial weight is 1 (pythae's 0.5 weighs a summed
squared error, a smaller number than these models' nats).
"""

from zoo.models import networks
from zoo.models.likelihoods import Likelihood
from zoo.models.adversarial import Discriminated
from zoo.models.objectives import KERNELS, RAE, WAE, Adversarial, Reconstruction
from zoo.models.posteriors import PointMass
from zoo.models.priors import StandardNormal
from zoo.models.registry import (Choice, FloatRange, ImageShape, IntRange, NonNegativeFloat,
                                 NonNegativeInt, PositiveFloat, PositiveInt, Widths, one_of,
                                 register)
from zoo.models.vae import VAE, compiled

SPACE = {"latent_dim": IntRange(8, 64, log=True),
         "filters": Choice(("16,32", "32,64", "64,128")),
         "learning_rate": FloatRange(1e-4, 3e-3)}


def conv_autoencoder(name, objective, latent_dim, filters, blocks, input_shape, learning_rate,
                     likelihood):
    """cnn_vae's networks around deterministic codes, trained on ``objective``."""
    encoder, decoder = networks.conv(input_shape, filters, blocks, latent_dim,
                                     PointMass(latent_dim, name="z"), likelihood, name)
    return compiled(VAE(encoder, decoder, StandardNormal(latent_dim), objective=objective),
                    learning_rate)


@register("ae", space=SPACE, elbo=False)
def ae(latent_dim: PositiveInt = 16, filters: Widths = (32, 64), blocks: NonNegativeInt = 0,
       input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-3,
       likelihood: Likelihood = "bernoulli"):
    """A plain autoencoder: deterministic codes, trained on the reconstruction alone."""
    return conv_autoencoder("ae", Reconstruction(), latent_dim, filters, blocks, input_shape,
                            learning_rate, likelihood)


RAE_SPACE = {**SPACE, "code_weight": FloatRange(1e-6, 1e-2),
             "decoder_weight": FloatRange(1e-9, 1e-4)}


@register("rae_l2", space=RAE_SPACE, elbo=False)
def rae_l2(latent_dim: PositiveInt = 16, filters: Widths = (32, 64), blocks: NonNegativeInt = 0,
           input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-3,
           likelihood: Likelihood = "bernoulli", code_weight: NonNegativeFloat = 1e-4,
           decoder_weight: NonNegativeFloat = 1e-7):
    """Regularised autoencoder: code penalty, decoder weights' L2 (Ghosh et al. 2020)."""
    return conv_autoencoder("rae_l2", RAE("l2", code_weight, decoder_weight), latent_dim,
                            filters, blocks, input_shape, learning_rate, likelihood)


@register("rae_gp", space=RAE_SPACE, elbo=False)
def rae_gp(latent_dim: PositiveInt = 16, filters: Widths = (32, 64), blocks: NonNegativeInt = 0,
           input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-3,
           likelihood: Likelihood = "bernoulli", code_weight: NonNegativeFloat = 1e-4,
           decoder_weight: NonNegativeFloat = 1e-7):
    """Regularised autoencoder: code penalty, decoder gradient penalty (Ghosh et al. 2020)."""
    return conv_autoencoder("rae_gp", RAE("gp", code_weight, decoder_weight), latent_dim,
                            filters, blocks, input_shape, learning_rate, likelihood)


@register("wae_mmd", space={**SPACE, "lam": FloatRange(1.0, 100.0)}, elbo=False)
def wae_mmd(latent_dim: PositiveInt = 16, filters: Widths = (32, 64), blocks: NonNegativeInt = 0,
            input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-3,
            likelihood: Likelihood = "bernoulli", lam: NonNegativeFloat = 10.0,
            kernel: one_of(*KERNELS) = "imq", scale: PositiveFloat = 1.0):
    """Wasserstein autoencoder: codes held to the prior by an MMD (Tolstikhin et al. 2018)."""
    return conv_autoencoder("wae_mmd", WAE(kernel=kernel, scale=scale, lam=lam), latent_dim,
                            filters, blocks, input_shape, learning_rate, likelihood)


@register("aae", space={**SPACE, "weight": FloatRange(0.1, 10.0)}, elbo=False)
def aae(latent_dim: PositiveInt = 16, filters: Widths = (32, 64), blocks: NonNegativeInt = 0,
        input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-4,
        likelihood: Likelihood = "bernoulli", weight: NonNegativeFloat = 1.0,
        discriminator_units: Widths = (256,), discriminator_learning_rate: PositiveFloat = 1e-4):
    """Adversarial autoencoder: a discriminator holds codes to the prior (Makhzani et al. 2016)."""
    encoder, decoder = networks.conv(input_shape, filters, blocks, latent_dim,
                                     PointMass(latent_dim, name="z"), likelihood, "aae")
    model = Discriminated(encoder, decoder, StandardNormal(latent_dim),
                          networks.discriminator(latent_dim, discriminator_units),
                          Adversarial(weight=weight),
                          discriminator_learning_rate=discriminator_learning_rate)
    return compiled(model, learning_rate)
