"""Importance-weighted autoencoders (Burda, Grosse & Salakhutdinov 2016).

The model of a VAE (N(0, I) prior, diagonal Gaussian posterior, MLP decoder), trained
on the importance-weighted bound with k codes per example instead of the ELBO::

    loss(x) = -log (1/k) sum_{i=1..k} p(x|z_i) p(z_i) / q(z_i|x),   z_i ~ q(z|x)

in nats per example: at k = 1 the ELBO in expectation, tighter as k grows, and log p(x)
in the limit. Defaults: the paper's MLP for one stochastic layer (two tanh layers of 200
units, 50 latent dimensions) and k = 5. ``gradient = "dreg"`` trains with the doubly
reparameterised gradient of the same bound (Tucker et al. 2018; ``objectives.IWAE``).

Rainforth et al. 2018's variants, on the same networks (defaults: pythae's reproductions,
m·k = 64 codes per example): ``miwae`` trains on the mean of m IWAE bounds of k codes
(m = k = 8), ``piwae`` its encoder on that and its decoder on the IWAE bound of all m·k
(m = k = 8), ``ciwae`` on beta ELBO + (1 - beta) IWAE of k codes (k = 64, beta = 0.5)
(``objectives.MIWAE``, ``PIWAE``, ``CIWAE``).
"""

from zoo.models import networks
from zoo.models.objectives import CIWAE, GRADIENTS, IWAE, MIWAE, PIWAE
from zoo.models.priors import StandardNormal
from zoo.models.likelihoods import Likelihood
from zoo.models.registry import (FloatRange, ImageShape, IntRange, PositiveFloat, PositiveInt,
                                 UnitFloat, Widths, one_of, register)
from zoo.models.vae import VAE, compiled

SPACE = {"latent_dim": IntRange(8, 64, log=True), "k": IntRange(1, 50, log=True),
         "learning_rate": FloatRange(1e-4, 3e-3)}


@register("iwae", space=SPACE)
def iwae(latent_dim: PositiveInt = 50, hidden_units: Widths = (200, 200), k: PositiveInt = 5,
         gradient: one_of(*GRADIENTS) = "iwae", input_shape: ImageShape = (28, 28, 1),
         learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli",
         activation: networks.Activation = "tanh"):
    """IWAE: the importance-weighted bound with k samples (Burda et al. 2016), MLP."""
    return importance_weighted(IWAE(k, gradient=gradient), latent_dim, hidden_units,
                               input_shape, learning_rate, likelihood, activation)


def importance_weighted(objective, latent_dim, hidden_units, input_shape, learning_rate,
                        likelihood, activation):
    """Burda et al.'s MLP VAE trained on ``objective``."""
    encoder, decoder = networks.mlp(input_shape, hidden_units, latent_dim,
                                    activation=activation, likelihood=likelihood)
    model = VAE(encoder, decoder, StandardNormal(latent_dim), objective=objective)
    return compiled(model, learning_rate)


MULTI_SPACE = {"latent_dim": IntRange(8, 64, log=True), "k": IntRange(1, 16, log=True),
               "m": IntRange(1, 16, log=True), "learning_rate": FloatRange(1e-4, 3e-3)}


@register("miwae", space=MULTI_SPACE)
def miwae(latent_dim: PositiveInt = 50, hidden_units: Widths = (200, 200), k: PositiveInt = 8,
          m: PositiveInt = 8, input_shape: ImageShape = (28, 28, 1),
          learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli",
          activation: networks.Activation = "tanh"):
    """MIWAE: the mean of m IWAE bounds of k codes (Rainforth et al. 2018), MLP."""
    return importance_weighted(MIWAE(k, m), latent_dim, hidden_units, input_shape,
                               learning_rate, likelihood, activation)


@register("piwae", space=MULTI_SPACE)
def piwae(latent_dim: PositiveInt = 50, hidden_units: Widths = (200, 200), k: PositiveInt = 8,
          m: PositiveInt = 8, input_shape: ImageShape = (28, 28, 1),
          learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli",
          activation: networks.Activation = "tanh"):
    """PIWAE: encoder on MIWAE(m, k), decoder on IWAE(m·k) (Rainforth et al. 2018), MLP."""
    return importance_weighted(PIWAE(k, m), latent_dim, hidden_units, input_shape,
                               learning_rate, likelihood, activation)


@register("ciwae", space={"latent_dim": IntRange(8, 64, log=True),
                          "k": IntRange(1, 64, log=True), "beta": FloatRange(0.0, 1.0, log=False),
                          "learning_rate": FloatRange(1e-4, 3e-3)})
def ciwae(latent_dim: PositiveInt = 50, hidden_units: Widths = (200, 200), k: PositiveInt = 64,
          beta: UnitFloat = 0.5, input_shape: ImageShape = (28, 28, 1),
          learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli",
          activation: networks.Activation = "tanh"):
    """CIWAE: beta ELBO + (1 - beta) IWAE of k codes (Rainforth et al. 2018), MLP."""
    return importance_weighted(CIWAE(k, beta), latent_dim, hidden_units, input_shape,
                               learning_rate, likelihood, activation)
