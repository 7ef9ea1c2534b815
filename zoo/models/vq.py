"""The VQ-VAE (van den Oord, Vinyals & Kavukcuoglu 2017) with a PixelCNN prior over its
grid of codes::

    z_e = f(x)          a grid of latent_dim-vectors: conv layers to stride 4 (28x28 -> 7x7)
    k_i = argmin_j |z_e,i - e_j|^2,  z_q,i = e_(k_i)    codes from ``codes`` codebook vectors
    p(x|z_q)            a conv decoder and the likelihood head
    p(k)                TFP's tfd.PixelCNN over the grid of indices
    loss                objectives.VectorQuantization

(``posteriors.VectorQuantizer``, ``priors.PixelCNNCodeGrid``). q(k|x) is a point mass, so
the ELBO is the bound ``log p(x) >= log p(x|z_q) + log p(k)`` in nats, and an importance-
sampled estimate is that bound again (every sample is the same code): ``zoo.evaluate``
says so beside it.

Said plainly, against the paper: the prior trains in the same steps as the autoencoder, on
each step's codes (its gradient stops at them), not in a second run after it; the codes it
ends fitting are the last ones, the learning rate by then decayed. TFP's PixelCNN models
each index as it models a pixel, a discretized logistic mixture over 0..codes-1, though the
codebook's order means nothing: each position's mixture of ``prior_mixtures`` components
puts its mass on up to that many unrelated indices.
"""

from typing import Annotated

import tf_keras
from tf_keras import layers

from zoo.models import networks
from zoo.models.likelihoods import Likelihood, head
from zoo.models.objectives import VectorQuantization
from zoo.models.posteriors import VectorQuantizer
from zoo.models.priors import PixelCNNCodeGrid
from zoo.models.registry import (Check, FloatRange, ImageShape, IntRange, NonNegativeFloat,
                                 NonNegativeInt, PositiveFloat, PositiveInt, Widths, register)
from zoo.models.vae import VAE, compiled

SPACE = {"latent_dim": IntRange(4, 64, log=True), "codes": IntRange(16, 256, log=True),
         "commitment": FloatRange(0.1, 2.0, log=True), "learning_rate": FloatRange(1e-4, 3e-3)}

# the codebook's size: two codes at least (TFP's PixelCNN takes values 0..codes-1)
Codebook = Annotated[int, Check(int, lambda v: v >= 2, "an int >= 2, the codebook's size")]


@register("vq_vae", space=SPACE)
def vq_vae(latent_dim: PositiveInt = 16, codes: Codebook = 64, filters: Widths = (32, 64),
           blocks: NonNegativeInt = 2, commitment: NonNegativeFloat = 0.25,
           prior_filters: PositiveInt = 64, prior_depth: PositiveInt = 5,
           prior_mixtures: PositiveInt = 5, input_shape: ImageShape = (28, 28, 1),
           learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli"):
    """VQ-VAE (van den Oord et al. 2017): a grid of codebook codes, a PixelCNN prior."""
    stride = networks.conv_stride(input_shape, filters, "vq_vae")
    grid = (input_shape[0] // stride, input_shape[1] // stride)
    quantizer = VectorQuantizer(codes, latent_dim, name="q_z_given_x")
    encoder = tf_keras.Sequential([
        layers.InputLayer(input_shape), *networks.conv_downsampling(filters, blocks),
        layers.Conv2D(latent_dim, 1), layers.Flatten(), quantizer], name="encoder")
    output = head(likelihood, input_shape)
    decoder = networks.decoder(grid[0] * grid[1] * latent_dim, [
        layers.Reshape((*grid, latent_dim)),
        layers.Conv2D(filters[-1], 3, padding="same", activation="relu"),
        *[networks.ResidualConv2D(filters[-1]) for _ in range(blocks)],
        *networks.conv_upsampling(filters, input_shape[2], output.params_per_pixel, blocks),
    ], output)
    prior = PixelCNNCodeGrid(quantizer, grid, prior_filters, prior_depth, prior_mixtures)
    model = VAE(encoder, decoder, prior, objective=VectorQuantization(commitment))
    return compiled(model, learning_rate)
