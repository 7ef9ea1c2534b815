"""VAEs whose reconstruction is measured other than by the decoder's likelihood.

    msssim_vae  loss(x) = D (1 - MS-SSIM(x, E[x|z])) + beta KL(q(z|x) || p(z))
                                                                  (objectives.MSSSIM)
    vae_gan     loss(x) = 1/2 |f(x) - f(E[x|z])|^2 + beta KL(q(z|x) || p(z))
                f a discriminator's features; the decoder and the discriminator
                trained adversarially, each by its own optimizer  (objectives.VAEGAN)

MS-SSIM (Wang et al. 2003) compares local means, contrasts and structures at several
scales rather than pixels one by one (Snell et al. 2017); D, the pixels, puts it on the
scale of a likelihood summed over them. VAE-GAN (Larsen et al. 2016) learns its measure:
the features of a discriminator trained to tell images from reconstructions and from the
prior's images, against which the decoder also plays (``adversarial.VAEGAN``). The
networks and posterior are cnn_vae's, so these and cnn_vae differ in their reconstruction
term (and VAE-GAN's discriminator) alone; each model keeps its decoder's likelihood, whose
ELBO it reports (a true bound, not what it trains on).
"""

from zoo.models import networks
from zoo.models.adversarial import VAEGAN
from zoo.models.likelihoods import Likelihood
from zoo.models.objectives import MSSSIM, VAEGAN as VAEGANObjective
from zoo.models.posteriors import MultivariateNormalTriL
from zoo.models.priors import StandardNormal
from zoo.models.registry import (Choice, FloatRange, ImageShape, IntRange, NonNegativeFloat,
                                 NonNegativeInt, PositiveFloat, PositiveInt, Widths,
                                 register)
from zoo.models.vae import VAE, compiled

SPACE = {"latent_dim": IntRange(8, 64, log=True), "beta": FloatRange(0.1, 10.0),
         "filters": Choice(("16,32", "32,64", "64,128")),
         "learning_rate": FloatRange(1e-4, 3e-3)}


@register("msssim_vae", space=SPACE)
def msssim_vae(latent_dim: PositiveInt = 16, filters: Widths = (32, 64),
               blocks: NonNegativeInt = 0, input_shape: ImageShape = (28, 28, 1),
               learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli",
               beta: NonNegativeFloat = 1.0, filter_size: PositiveInt = 3):
    """cnn_vae with its reconstruction measured by multi-scale SSIM (Snell et al. 2017)."""
    encoder, decoder = networks.conv(input_shape, filters, blocks, latent_dim,
                                     MultivariateNormalTriL(latent_dim, name="q_z_given_x"),
                                     likelihood, "msssim_vae")
    objective = MSSSIM(beta=beta, filter_size=filter_size)
    objective.weights(*input_shape[:2])  # a window too large: refused now, in one line
    return compiled(VAE(encoder, decoder, StandardNormal(latent_dim), objective=objective),
                    learning_rate)


GAN_SPACE = {**SPACE, "gamma": FloatRange(0.1, 10.0, log=True),
             "discriminator_learning_rate": FloatRange(1e-4, 1e-3, log=True)}


@register("vae_gan", space=GAN_SPACE)
def vae_gan(latent_dim: PositiveInt = 16, filters: Widths = (32, 64),
            blocks: NonNegativeInt = 0, input_shape: ImageShape = (28, 28, 1),
            learning_rate: PositiveFloat = 3e-4, likelihood: Likelihood = "bernoulli",
            beta: NonNegativeFloat = 1.0, gamma: NonNegativeFloat = 1.0,
            discriminator_filters: Widths = (32, 64),
            decoder_learning_rate: PositiveFloat = 3e-4,
            discriminator_learning_rate: PositiveFloat = 3e-4,
            equilibrium: PositiveFloat = 0.68, margin: NonNegativeFloat = 0.4):
    """cnn_vae reconstructing in a GAN discriminator's features (Larsen et al. 2016)."""
    encoder, decoder = networks.conv(input_shape, filters, blocks, latent_dim,
                                     MultivariateNormalTriL(latent_dim, name="q_z_given_x"),
                                     likelihood, "vae_gan")
    model = VAEGAN(encoder, decoder, StandardNormal(latent_dim),
                   networks.image_discriminator(input_shape, discriminator_filters),
                   VAEGANObjective(beta=beta, gamma=gamma, equilibrium=equilibrium,
                                   margin=margin),
                   decoder_learning_rate=decoder_learning_rate,
                   discriminator_learning_rate=discriminator_learning_rate)
    return compiled(model, learning_rate)
