"""Importance-weighted autoencoders (Burda, Grosse & Salakhutdinov 2016).

The model of a VAE (N(0, I) prior, diagonal Gaussian posterior, MLP decoder), trained
on the importance-weighted bound with k codes per example instead of the ELBO::

    loss(x) = -log (1/k) sum_{i=1..k} p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x)

in nats per example: at k = 1 the ELBO in expectation, tighter as k grows, and log p(x)
in the limit. Defaults: the paper's MLP for one stochastic layer (two tanh layers of 200
units, 50 latent dimensions) and k = 5. ``gradient = "dreg"`` trains with the doubly
reparameterised gradient of the same bound (Tucker et al. 2018; ``objectives.IWAE``).
"""

from zoo.models import networks
from zoo.models.objectives import GRADIENTS, IWAE
from zoo.models.priors import StandardNormal
from zoo.models.likelihoods import Likelihood
from zoo.models.registry import (FloatRange, ImageShape, IntRange, PositiveFloat, PositiveInt,
                                 Widths, one_of, register)
from zoo.models.vae import VAE, compiled

SPACE = {"latent_dim": IntRange(8, 64, log=True), "k": IntRange(1, 50, log=True),
         "learning_rate": FloatRange(1e-4, 3e-3)}


@register("iwae", space=SPACE)
def iwae(latent_dim: PositiveInt = 50, hidden_units: Widths = (200, 200), k: PositiveInt = 5,
         gradient: one_of(*GRADIENTS) = "iwae", input_shape: ImageShape = (28, 28, 1),
         learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli",
         activation: networks.Activation = "tanh"):
    """IWAE: the importance-weighted bound with k samples (Burda et al. 2016), MLP."""
    encoder, decoder = networks.mlp(input_shape, hidden_units, latent_dim,
                                    activation=activation, likelihood=likelihood)
    model = VAE(encoder, decoder, StandardNormal(latent_dim),
                objective=IWAE(k, gradient=gradient))
    return compiled(model, learning_rate)
