"""Single-stochastic-layer VAEs with a standard normal prior.

    p(z) = N(0, I),   p(x|z): the ``likelihood`` head (by default
                      prod_i Bernoulli(x_i | sigmoid(logits_i(z)))),
    loss(x) = -log p(x|z) + beta * KL(q(z|x) || p(z)),  z ~ q(z|x)     (nats per example)

Kingma & Welling 2014 (mlp_vae: the MLP setting; cnn_vae: a convolutional one with a
full-covariance posterior); Higgins et al. 2017 (beta_vae). The KL is analytic. cnn_vae and
beta_vae take ``network="locatello_conv"``: disentanglement_lib's 64x64 networks and
diagonal posterior instead (``networks.chosen``; its plain VAE and beta-VAE).
"""

from zoo.models import networks
from zoo.models.likelihoods import Likelihood
from zoo.models.objectives import ELBO
from zoo.models.posteriors import MultivariateNormalTriL
from zoo.models.priors import StandardNormal
from zoo.models.registry import (Choice, FloatRange, ImageShape, IntRange, NonNegativeFloat,
                                 NonNegativeInt, PositiveFloat, PositiveInt, Widths,
                                 register)
from zoo.models.vae import VAE, compiled

MLP_SPACE = {"latent_dim": IntRange(8, 64, log=True),
             "hidden_units": Choice(("256,128", "512,256", "1024,512", "512,512")),
             "learning_rate": FloatRange(1e-4, 3e-3)}
CNN_SPACE = {"latent_dim": IntRange(8, 64, log=True),
             "filters": Choice(("16,32", "32,64", "64,128")), "blocks": IntRange(0, 2),
             "learning_rate": FloatRange(1e-4, 3e-3)}


@register("mlp_vae", space=MLP_SPACE)
def mlp_vae(latent_dim: PositiveInt = 32, hidden_units: Widths = (512, 256),
            input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-3,
            likelihood: Likelihood = "bernoulli", activation: networks.Activation = "relu"):
    """MLP encoder, diagonal Gaussian posterior, MLP decoder (Kingma & Welling 2014)."""
    encoder, decoder = networks.mlp(input_shape, hidden_units, latent_dim,
                                    activation=activation, likelihood=likelihood)
    return compiled(VAE(encoder, decoder, StandardNormal(latent_dim)), learning_rate)


def conv_vae(latent_dim, filters, blocks, input_shape, learning_rate, beta, likelihood, name,
             network="default"):
    """Strided-conv encoder, full-covariance posterior, transposed-conv decoder; ``blocks``
    residual convolutions after each strided one (or disentanglement_lib's networks:
    ``networks.chosen``)."""

    def own():
        return networks.conv(input_shape, filters, blocks, latent_dim,
                             MultivariateNormalTriL(latent_dim, name="q_z_given_x"),
                             likelihood, name)

    encoder, decoder = networks.chosen(network, own, input_shape, latent_dim, likelihood)
    model = VAE(encoder, decoder, StandardNormal(latent_dim), objective=ELBO(beta=beta))
    return compiled(model, learning_rate)


@register("cnn_vae", space=CNN_SPACE)
def cnn_vae(latent_dim: PositiveInt = 16, filters: Widths = (32, 64), blocks: NonNegativeInt = 0,
            input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-3,
            likelihood: Likelihood = "bernoulli", network: networks.Network = "default"):
    """Conv encoder, full-covariance (MultivariateNormalTriL) posterior, conv-transpose decoder."""
    return conv_vae(latent_dim, filters, blocks, input_shape, learning_rate, 1.0, likelihood,
                    "cnn_vae", network)


@register("beta_vae", space={**CNN_SPACE, "beta": FloatRange(1.0, 8.0)})
def beta_vae(latent_dim: PositiveInt = 16, filters: Widths = (32, 64), blocks: NonNegativeInt = 0,
             input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-3,
             beta: NonNegativeFloat = 4.0, likelihood: Likelihood = "bernoulli",
             network: networks.Network = "default"):
    """cnn_vae with the KL term weighted by beta (Higgins et al. 2017)."""
    return conv_vae(latent_dim, filters, blocks, input_shape, learning_rate, beta, likelihood,
                    "beta_vae", network)
