"""Single-stochastic-layer VAEs: MLP, CNN and beta-VAE, all with an N(0, I) prior and a
factorised Bernoulli decoder ``p(x|z) = prod_i Bernoulli(x_i | logits_i(z))``.
"""

import math

import tensorflow_probability as tfp
import tf_keras
from tf_keras import layers

from zoo.errors import OverrideError
from zoo.models.layers import (VAE, MultivariateNormalDiag, MultivariateNormalTriL,
                              PosteriorSampler, standard_normal_prior)
from zoo.models.registry import (Choice, FloatRange, ImageShape, IntRange, NonNegativeFloat,
                                 PositiveFloat, PositiveInt, Widths, register)

tfd, tfpl = tfp.distributions, tfp.layers


def bernoulli_head(image_shape):
    """Logits -> ``p(x|z)``; as a tensor it is the mean image (pixel probabilities)."""
    return tfpl.IndependentBernoulli(image_shape, convert_to_tensor_fn=tfd.Distribution.mean,
                                     name="p_x_given_z")


# The builders' optimizer: tf_keras's legacy Adam, which updates each variable with one
# fused kernel (ResourceApplyAdam); tf_keras.optimizers.Adam (the new one) runs several
# elementwise ops instead, slower here. Same-seed runs in separate processes have also
# been seen to differ with the new one, never with this one (benchmarks/README.md).
ADAM = tf_keras.optimizers.legacy.Adam


def compiled_vae(encoder, decoder, sampler, latent_dim, beta, learning_rate):
    """The VAE compiled with ``ADAM(learning_rate)``."""
    model = VAE(encoder, decoder, standard_normal_prior(latent_dim), sampler, beta=beta)
    model.compile(optimizer=ADAM(learning_rate))
    return model


MLP_SPACE = {"latent_dim": IntRange(8, 64, log=True),
             "hidden_units": Choice(("256,128", "512,256", "1024,512", "512,512")),
             "learning_rate": FloatRange(1e-4, 3e-3)}
CNN_SPACE = {"latent_dim": IntRange(8, 64, log=True),
             "filters": Choice(("16,32", "32,64", "64,128")),
             "learning_rate": FloatRange(1e-4, 3e-3)}


@register("mlp_vae", space=MLP_SPACE)
def mlp_vae(latent_dim: PositiveInt = 32, hidden_units: Widths = (512, 256),
            input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-3):
    """MLP encoder, diagonal Gaussian posterior, MLP decoder."""
    sampler = PosteriorSampler()
    encoder = tf_keras.Sequential([
        layers.InputLayer(input_shape),
        layers.Flatten(),
        *[layers.Dense(units, activation="relu") for units in hidden_units],
        layers.Dense(MultivariateNormalDiag.params_size(latent_dim)),
        MultivariateNormalDiag(latent_dim, convert_to_tensor_fn=sampler, name="q_z_given_x"),
    ], name="encoder")
    decoder = tf_keras.Sequential([
        layers.InputLayer((latent_dim,)),
        *[layers.Dense(units, activation="relu") for units in reversed(hidden_units)],
        layers.Dense(math.prod(input_shape)),
        bernoulli_head(input_shape),
    ], name="decoder")
    return compiled_vae(encoder, decoder, sampler, latent_dim, 1.0, learning_rate)


def conv_vae(latent_dim, filters, input_shape, learning_rate, beta, name):
    """Strided-conv encoder, full-covariance posterior, transposed-conv decoder."""
    height, width, channels = input_shape
    stride = 2 ** len(filters)
    if height % stride or width % stride:
        raise OverrideError(
            f"{name}: input_shape {input_shape} needs height and width divisible by {stride} "
            f"(one stride-2 layer per entry of filters={filters}); pad the images or use "
            "fewer filters")
    sampler = PosteriorSampler()
    encoder = tf_keras.Sequential([
        layers.InputLayer(input_shape),
        *[layers.Conv2D(f, 3, strides=2, padding="same", activation="relu") for f in filters],
        layers.Flatten(),
        layers.Dense(MultivariateNormalTriL.params_size(latent_dim)),
        MultivariateNormalTriL(latent_dim, convert_to_tensor_fn=sampler, name="q_z_given_x"),
    ], name="encoder")
    decoder = tf_keras.Sequential([
        layers.InputLayer((latent_dim,)),
        layers.Dense(height // stride * width // stride * filters[-1], activation="relu"),
        layers.Reshape((height // stride, width // stride, filters[-1])),
        *[layers.Conv2DTranspose(f, 3, strides=2, padding="same", activation="relu")
          for f in reversed(filters)],
        layers.Conv2D(channels, 3, padding="same"),
        layers.Flatten(),
        bernoulli_head(input_shape),
    ], name="decoder")
    return compiled_vae(encoder, decoder, sampler, latent_dim, beta, learning_rate)


@register("cnn_vae", space=CNN_SPACE)
def cnn_vae(latent_dim: PositiveInt = 16, filters: Widths = (32, 64),
            input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-3):
    """Conv encoder, full-covariance (MultivariateNormalTriL) posterior, conv-transpose decoder."""
    return conv_vae(latent_dim, filters, input_shape, learning_rate, 1.0, "cnn_vae")


@register("beta_vae", space={**CNN_SPACE, "beta": FloatRange(1.0, 8.0)})
def beta_vae(latent_dim: PositiveInt = 16, filters: Widths = (32, 64),
             input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 1e-3,
             beta: NonNegativeFloat = 4.0):
    """cnn_vae with the KL term weighted by beta (Higgins et al. 2017)."""
    return conv_vae(latent_dim, filters, input_shape, learning_rate, beta, "beta_vae")
