"""beta-TCVAE (Chen, Li, Grosse & Duvenaud 2018): the total correlation of the codes
weighted by beta, for disentangled representations.

The model of mlp_vae (N(0, I) prior, diagonal Gaussian posterior, MLP decoder); the
objective ``objectives.BetaTC`` splits the KL into index-code mutual information, total
correlation and dimension-wise KL and weighs the TC by beta::

    loss(x) = -log p(x|z) + MI + beta * TC + DKL        (nats per example)

its aggregate posterior estimated by minibatch-weighted sampling, which needs the size of
the training set (``dataset_size``: ``zoo train`` and ``zoo.tune`` pass the true number,
``--train-examples`` included; 50,000, the train splits of binarized_mnist and
fashion_mnist, if you build it yourself). Defaults: the paper's 10 latent dimensions and
beta = 6, on mlp_vae's MLPs; ``network="locatello_conv"``: disentanglement_lib's 64x64
networks instead (``networks.chosen``).
"""

from zoo.models import networks
from zoo.models.objectives import BetaTC
from zoo.models.priors import StandardNormal
from zoo.models.likelihoods import Likelihood
from zoo.models.registry import (Choice, FloatRange, ImageShape, IntRange, NonNegativeFloat,
                                 PositiveFloat, PositiveInt, TrainingSetSize, Widths,
                                 register)
from zoo.models.vae import VAE, compiled

SPACE = {"latent_dim": IntRange(4, 32, log=True), "beta": FloatRange(1.0, 10.0),
         "hidden_units": Choice(("512,256", "1024,512")),
         "learning_rate": FloatRange(1e-4, 3e-3)}


@register("beta_tcvae", space=SPACE)
def beta_tcvae(latent_dim: PositiveInt = 10, beta: NonNegativeFloat = 6.0,
               dataset_size: TrainingSetSize = 50_000, hidden_units: Widths = (512, 256),
               input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-3,
               likelihood: Likelihood = "bernoulli", network: networks.Network = "default"):
    """beta-TCVAE: the total correlation weighted by beta (Chen et al. 2018), MLP."""
    encoder, decoder = networks.chosen(
        network, lambda: networks.mlp(input_shape, hidden_units, latent_dim,
                                      likelihood=likelihood),
        input_shape, latent_dim, likelihood)
    model = VAE(encoder, decoder, StandardNormal(latent_dim),
                objective=BetaTC(beta=beta, dataset_size=dataset_size))
    return compiled(model, learning_rate)
