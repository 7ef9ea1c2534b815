"""InfoVAE (Zhao, Song & Ermon 2019): the ELBO's KL traded for a maximum mean discrepancy
between the aggregate posterior q(z) and the prior, which keeps the codes informative.

The model of mlp_vae (N(0, I) prior, diagonal Gaussian posterior, MLP decoder); the
objective ``objectives.MMD``::

    loss(x) = -log p(x|z) + (1 - alpha) KL(q(z|x) || p(z)) + (alpha + lam - 1) MMD^2(q(z), p(z))

in nats per example but for the MMD term (a squared distance of kernel means, estimated on
the batch). ``alpha = 1`` drops the KL (the MMD-VAE: ``wae_mmd``'s objective on codes drawn
from a Gaussian q(z|x) rather than a point mass, its stochastic cousin); the default
``alpha = 0, lam = 100`` keeps the whole KL and adds 99 times the MMD. The metric ``mmd``
is tracked beside the ELBO's terms.
"""

from zoo.models import networks
from zoo.models.likelihoods import Likelihood
from zoo.models.objectives import KERNELS, MMD
from zoo.models.priors import StandardNormal
from zoo.models.registry import (FloatRange, ImageShape, IntRange, NonNegativeFloat,
                                 PositiveFloat, PositiveInt, Widths, one_of, register)
from zoo.models.vae import VAE, compiled

SPACE = {"latent_dim": IntRange(4, 64, log=True), "lam": FloatRange(1.0, 1000.0),
         "learning_rate": FloatRange(1e-4, 3e-3)}


@register("mmd_vae", space=SPACE)
def mmd_vae(latent_dim: PositiveInt = 32, alpha: NonNegativeFloat = 0.0,
            lam: NonNegativeFloat = 100.0, kernel: one_of(*KERNELS) = "imq",
            hidden_units: Widths = (512, 256), input_shape: ImageShape = (28, 28, 1),
            learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli"):
    """InfoVAE: the KL traded for an MMD of q(z) and p(z) (Zhao et al. 2019), MLP."""
    encoder, decoder = networks.mlp(input_shape, hidden_units, latent_dim,
                                    likelihood=likelihood)
    model = VAE(encoder, decoder, StandardNormal(latent_dim),
                objective=MMD(alpha=alpha, lam=lam, kernel=kernel))
    return compiled(model, learning_rate)
