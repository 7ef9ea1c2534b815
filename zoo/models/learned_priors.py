"""VAEs with a learned prior: a mixture of Gaussians, and the VampPrior.

The model is a VAE whose prior p(z) trains with it; neither has a closed-form KL, so the
objective is the ELBO with the KL estimated from the posterior sample(s)::

    loss(x) = -log p(x|z) + log q(z|x) - log p(z),   z ~ q(z|x)        (nats per example)

- ``mog_vae``: p(z) = sum_c pi_c N(z | mu_c, diag(sigma_c^2)), every parameter learned
  (as in TFP's former examples/vae.py, whose defaults it takes: 16 latent dimensions, 100
  components), on mlp_vae's networks.
- ``vamp_vae``: the VampPrior, p(z) = (1/K) sum_k q(z | u_k) over K learned pseudo-inputs
  (Tomczak & Welling 2018), with the paper's MNIST setting: gated MLPs of 300 units, 40
  latent dimensions, K = 500, learning rate 5e-4.
- ``conv_vamp_vae``: the VampPrior on convolutional networks, the zoo's conv stacks
  (cnn_vae's strided convolutions and transposed convolutions) with gated convolutions
  (``networks.GatedConv2D``, as the paper's convolutional models gate theirs) and a
  diagonal Gaussian posterior; the K pseudo-inputs are images that the conv encoder
  maps at every step, so a step costs about K / batch encoder passes more than cnn_vae's.
"""

from zoo.models import networks
from zoo.models.priors import MixtureOfGaussians, VampPrior
from zoo.models.likelihoods import Likelihood
from zoo.models.posteriors import MultivariateNormalDiag
from zoo.models.registry import (Choice, FloatRange, ImageShape, IntRange, NonNegativeInt,
                                 PositiveFloat, PositiveInt, Widths, register)
from zoo.models.vae import VAE, compiled

MOG_SPACE = {"latent_dim": IntRange(8, 64, log=True), "components": IntRange(1, 200, log=True),
             "hidden_units": Choice(("256,128", "512,256", "1024,512")),
             "learning_rate": FloatRange(1e-4, 3e-3)}
VAMP_SPACE = {"latent_dim": IntRange(8, 64, log=True),
              "components": IntRange(50, 1000, log=True),
              "learning_rate": FloatRange(1e-4, 3e-3)}
CONV_VAMP_SPACE = {**VAMP_SPACE, "filters": Choice(("16,32", "32,64", "64,128"))}


@register("mog_vae", space=MOG_SPACE)
def mog_vae(latent_dim: PositiveInt = 16, components: PositiveInt = 100,
            hidden_units: Widths = (512, 256), input_shape: ImageShape = (28, 28, 1),
            learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli"):
    """mlp_vae with a learned mixture-of-Gaussians prior (as TFP's former examples/vae.py)."""
    encoder, decoder = networks.mlp(input_shape, hidden_units, latent_dim,
                                    likelihood=likelihood)
    prior = MixtureOfGaussians(latent_dim, components=components)
    return compiled(VAE(encoder, decoder, prior), learning_rate)


@register("vamp_vae", space=VAMP_SPACE)
def vamp_vae(latent_dim: PositiveInt = 40, components: PositiveInt = 500,
             hidden_units: Widths = (300, 300), input_shape: ImageShape = (28, 28, 1),
             learning_rate: PositiveFloat = 5e-4, likelihood: Likelihood = "bernoulli"):
    """VampPrior VAE: a mixture of posteriors at learned pseudo-inputs (Tomczak & Welling 2018)."""
    encoder, decoder = networks.mlp(input_shape, hidden_units, latent_dim, activation="gated",
                                    likelihood=likelihood)
    prior = VampPrior(encoder, latent_dim, components=components)
    return compiled(VAE(encoder, decoder, prior), learning_rate)


@register("conv_vamp_vae", space=CONV_VAMP_SPACE)
def conv_vamp_vae(latent_dim: PositiveInt = 40, components: PositiveInt = 500,
                  filters: Widths = (32, 64), blocks: NonNegativeInt = 0,
                  input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 5e-4,
                  likelihood: Likelihood = "bernoulli",
                  activation: networks.Activation = "gated"):
    """VampPrior VAE on gated conv nets: vamp_vae's prior, cnn_vae's stacks gated."""
    encoder, decoder = networks.conv(input_shape, filters, blocks, latent_dim,
                                     MultivariateNormalDiag(latent_dim, name="q_z_given_x"),
                                     likelihood, "conv_vamp_vae", activation)
    prior = VampPrior(encoder, latent_dim, components=components)
    return compiled(VAE(encoder, decoder, prior), learning_rate)
