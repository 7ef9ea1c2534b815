"""VAEs whose reconstruction is measured other than by the decoder's likelihood.

    msssim_vae  loss(x) = D (1 - MS-SSIM(x, E[x|z])) + beta KL(q(z|x) || p(z))
                                                                  (objectives.MSSSIM)

MS-SSIM (Wang et al. 2003) compares local means, contrasts and structures at several
scales rather than pixels one by one (Snell et al. 2017); D, the pixels, puts it on the
scale of a likelihood summed over them. The networks and posterior are cnn_vae's, so the
two differ in their reconstruction term alone; the model keeps its decoder's likelihood,
whose ELBO it reports (a true bound, not what it trains on).
"""

from zoo.models import networks
from zoo.models.likelihoods import Likelihood
from zoo.models.objectives import MSSSIM
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
