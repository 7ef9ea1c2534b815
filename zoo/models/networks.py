"""Encoder and decoder networks: Keras Sequential models ending in a distribution layer.

``encoder(input_shape, body, posterior)`` gives x -> q(z|x); ``decoder(latent_dim, body,
head)`` gives z -> p(x|z); ``mlp(...)`` gives both for the MLP families. The bodies below
are the zoo's MLP and convolutional stacks; a family may pass any list of Keras layers.
Layers get explicit names only where a family needs to find them; weights are saved by
their place in the model, not by layer name.
"""

import tf_keras
from tf_keras import layers

from zoo import precision
from zoo.errors import OverrideError
from zoo.models.likelihoods import head
from zoo.models.posteriors import MultivariateNormalDiag
from zoo.models.registry import one_of

Activation = one_of("relu", "tanh", "gated")  # an MLP builder's ``activation`` override


def encoder(input_shape, body, posterior):
    """``input_shape`` images -> ``body`` -> Dense(posterior.num_params) -> ``posterior``, a
    posterior layer (``zoo.models.posteriors``)."""
    return tf_keras.Sequential([
        layers.InputLayer(input_shape), *body, layers.Dense(posterior.num_params), posterior,
    ], name="encoder")


def decoder(latent_dim, body, head):
    """``latent_dim`` codes -> ``body`` (ending in the head's parameters) -> ``head``."""
    return tf_keras.Sequential([layers.InputLayer((latent_dim,)), *body, head],
                               name="decoder")


@tf_keras.utils.register_keras_serializable(package="zoo")
class GatedDense(layers.Layer):
    """``h = (W x + b) * sigmoid(V x + c)``: the gated dense layer of the VampPrior paper
    (Tomczak & Welling 2018), after Dauphin et al. 2017."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.linear, self.gate = layers.Dense(units), layers.Dense(units, activation="sigmoid")

    def call(self, inputs):
        return self.linear(inputs) * self.gate(inputs)

    def get_config(self):
        return {**super().get_config(), "units": self.units}


@tf_keras.utils.register_keras_serializable(package="zoo")
class GatedConv2D(layers.Layer):
    """``h = conv(x) * sigmoid(conv'(x))``: two 'same'-padded convolutions of one shape, the
    second gating the first (the gated convolutions of the VampPrior paper's convolutional
    models, Tomczak & Welling 2018, after Dauphin et al. 2017); transposed convolutions
    (upsampling by ``strides``) with ``transpose``."""

    def __init__(self, filters, kernel_size=3, strides=1, transpose=False, **kwargs):
        super().__init__(**kwargs)
        self.filters, self.kernel_size, self.strides = filters, kernel_size, strides
        self.transpose = transpose
        kind = layers.Conv2DTranspose if transpose else layers.Conv2D
        self.linear = kind(filters, kernel_size, strides=strides, padding="same")
        self.gate = kind(filters, kernel_size, strides=strides, padding="same",
                         activation="sigmoid")

    def call(self, inputs):
        return self.linear(inputs) * self.gate(inputs)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "transpose": self.transpose}


@tf_keras.utils.register_keras_serializable(package="zoo")
class ResidualConv2D(layers.Layer):
    """``h = x + relu(conv3x3(x))``: a 3x3 convolution at the input's resolution and width
    added to its input (He et al. 2016's identity shortcut, one convolution a block), a
    cheap way to deepen a conv stack that starts out close to the identity."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.conv = layers.Conv2D(filters, 3, padding="same", activation="relu")

    def call(self, inputs):
        return inputs + self.conv(inputs)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters}


def hidden(units, activation="relu"):
    """One hidden layer: ``Dense(units, activation)``, or ``GatedDense`` for ``"gated"``."""
    return GatedDense(units) if activation == "gated" else layers.Dense(units, activation)


def strided(filters, activation="relu", transpose=False):
    """A stride-2 3x3 convolution (transposed: upsampling by 2) with ``activation``, or a
    ``GatedConv2D`` for ``"gated"``."""
    if activation == "gated":
        return GatedConv2D(filters, 3, strides=2, transpose=transpose)
    kind = layers.Conv2DTranspose if transpose else layers.Conv2D
    return kind(filters, 3, strides=2, padding="same", activation=activation)


def mlp_encoder_body(hidden_units, activation="relu"):
    """Flatten, then a hidden layer per entry of ``hidden_units``."""
    return [layers.Flatten(), *[hidden(units, activation) for units in hidden_units]]


def mlp_decoder_body(hidden_units, num_params, activation="relu"):
    """Hidden layers (``hidden_units`` reversed), then the likelihood head's ``num_params``
    (one logit per pixel for the Bernoulli head)."""
    return [*[hidden(units, activation) for units in reversed(hidden_units)],
            layers.Dense(num_params)]


def conv_stride(input_shape, filters, name):
    """The total stride of the conv stacks (2 per entry of ``filters``), checked against
    the image size."""
    height, width, _ = input_shape
    stride = 2 ** len(filters)
    if height % stride or width % stride:
        raise OverrideError(
            f"{name}: input_shape {input_shape} needs height and width divisible by {stride} "
            f"(one stride-2 layer per entry of filters={filters}); pad the images or use "
            "fewer filters")
    return stride


def conv_downsampling(filters, blocks, activation="relu"):
    """A stride-2 3x3 convolution (``strided``: ReLU, or gated) per entry of ``filters``,
    each followed by ``blocks`` residual 3x3 convolutions (``ResidualConv2D``)."""
    return [layer for f in filters for layer in (
        strided(f, activation), *[ResidualConv2D(f) for _ in range(blocks)])]


def conv_upsampling(filters, channels, params_per_pixel, blocks, activation="relu"):
    """A stride-2 transposed convolution (``strided``) per entry of ``filters``
    (reversed), each followed by ``blocks`` residual 3x3 convolutions, a 3x3 convolution to
    the likelihood head's parameters (``params_per_pixel`` per pixel and channel), then
    Flatten."""
    return [*[layer for f in reversed(filters) for layer in (
        strided(f, activation, transpose=True), *[ResidualConv2D(f) for _ in range(blocks)])],
        layers.Conv2D(channels * params_per_pixel, 3, padding="same"), layers.Flatten()]


def conv_encoder_body(filters, blocks, activation="relu"):
    """``conv_downsampling``, then Flatten."""
    return [*conv_downsampling(filters, blocks, activation), layers.Flatten()]


def conv_decoder_body(filters, input_shape, stride, params_per_pixel, blocks,
                      activation="relu"):
    """A dense layer (``hidden``) to the smallest feature map, then ``conv_upsampling`` to
    the likelihood head's parameters."""
    height, width, channels = input_shape
    return [
        hidden(height // stride * width // stride * filters[-1], activation),
        layers.Reshape((height // stride, width // stride, filters[-1])),
        *conv_upsampling(filters, channels, params_per_pixel, blocks, activation),
    ]


# A builder's ``network`` override: its own networks, or disentanglement_lib's (``chosen``)
Network = one_of("default", "locatello_conv")
# disentanglement_lib's convolutional networks (its conv_encoder / deconv_decoder): four
# stride-2 ReLU convolutions of these widths and kernel sizes, and one dense layer
LOCATELLO_FILTERS, LOCATELLO_KERNELS, LOCATELLO_DENSE = (32, 32, 64, 64), (4, 4, 2, 2), 256


def locatello_conv(input_shape, latent_dim, likelihood="bernoulli", filters=LOCATELLO_FILTERS,
                   dense=LOCATELLO_DENSE):
    """``(encoder, decoder)``: the convolutional networks of disentanglement_lib (Locatello
    et al. 2019) for 64x64 images, a diagonal Gaussian posterior and the ``likelihood``
    head. Encoder: ReLU convolutions of ``filters`` (32, 32, 64, 64) with kernels 4, 4, 2, 2,
    stride 2, "same" padding, then Dense(``dense``) and the posterior's parameters. Decoder:
    Dense(``dense``), Dense(4 * 4 * 64), reshaped to 4x4x64 (the encoder's last map at
    64x64), transposed convolutions 64, 32, 32 (kernel 4, stride 2, ReLU) and a last one of
    kernel 4, stride 2 to the head's parameters per pixel. (disentanglement_lib's encoder
    uses 2x2 kernels in its last two layers; kept.) Images of another size: the smallest map
    is ceil(size / 16) a side and the decoder's last map is cropped to the image (28x28
    MNIST: 2x2, decoded to 32x32, cropped by 2 on each side)."""
    if len(filters) != len(LOCATELLO_KERNELS):
        kernels, widths = (",".join(map(str, sizes))
                           for sizes in (LOCATELLO_KERNELS, LOCATELLO_FILTERS))
        raise OverrideError(f"the locatello_conv networks take {len(LOCATELLO_KERNELS)} filters, "
                            f"one per kernel size {kernels}, not {len(filters)}; e.g. --set "
                            f"filters={widths}")
    height, width, channels = input_shape
    stride = 2 ** len(filters)
    smallest = (-(-height // stride), -(-width // stride), filters[-1])
    excess = (smallest[0] * stride - height, smallest[1] * stride - width)
    posterior = MultivariateNormalDiag(latent_dim, name="q_z_given_x")
    output = head(likelihood, input_shape)
    encoder_body = [
        *[layers.Conv2D(f, k, strides=2, padding="same", activation="relu")
          for f, k in zip(filters, LOCATELLO_KERNELS)],
        layers.Flatten(), layers.Dense(dense, activation="relu")]
    decoder_body = [
        layers.Dense(dense, activation="relu"),
        layers.Dense(smallest[0] * smallest[1] * smallest[2], activation="relu"),
        layers.Reshape(smallest),
        *[layers.Conv2DTranspose(f, 4, strides=2, padding="same", activation="relu")
          for f in reversed(filters[:-1])],
        layers.Conv2DTranspose(channels * output.params_per_pixel, 4, strides=2,
                               padding="same"),
        *([layers.Cropping2D(((excess[0] // 2, excess[0] - excess[0] // 2),
                              (excess[1] // 2, excess[1] - excess[1] // 2)))]
          if any(excess) else []),
        layers.Flatten()]
    return (encoder(input_shape, encoder_body, posterior),
            decoder(latent_dim, decoder_body, output))


def chosen(network, own, input_shape, latent_dim, likelihood):
    """``(encoder, decoder)``: ``own()``, a builder's own networks, or with
    ``network="locatello_conv"`` disentanglement_lib's 64x64 convolutional networks and
    diagonal Gaussian posterior (``locatello_conv``, at its widths) in their place: the
    builder's objective, prior, ``latent_dim`` and learning rate are kept, its own network
    settings (filters, blocks, hidden units) unused. Locatello et al. 2019's plain VAE,
    beta-VAE and beta-TCVAE add ``latent_dim=10,learning_rate=1e-4`` (``recipes/``)."""
    if network == "locatello_conv":
        return locatello_conv(input_shape, latent_dim, likelihood)
    return own()


# disentanglement_lib's FactorVAE discriminator: six dense layers of 1000 (Kim & Mnih 2018)
DISCRIMINATOR_UNITS = (1000,) * 6


def discriminator(latent_dim, units=DISCRIMINATOR_UNITS):
    """Codes (batch, ``latent_dim``) -> two logits: dense layers of ``units`` with leaky
    ReLUs (slope 0.2), then Dense(2) (FactorVAE's discriminator, ``objectives.FactorTC``);
    the logits in float32 under mixed precision, as the objective's log-softmax takes them."""
    return tf_keras.Sequential([
        layers.InputLayer((latent_dim,)),
        *[layer for width in units for layer in (layers.Dense(width), layers.LeakyReLU(0.2))],
        layers.Dense(2, dtype=precision.distribution_dtype())], name="discriminator")


def image_discriminator(input_shape, filters):
    """Images -> ``(features, logit)``: stride-2 5x5 convolutions of ``filters`` with leaky
    ReLUs (slope 0.2), the last one's feature map flattened (the features VAE-GAN compares
    images by: ``objectives.VAEGAN``), then Dense(1), the logit that an image is real
    (Larsen et al. 2016's discriminator without its batch normalisation, which replicas
    would compute apart); both in float32 under mixed precision."""
    images = layers.Input(input_shape)
    hidden = images
    for width in filters:
        hidden = layers.LeakyReLU(0.2)(layers.Conv2D(width, 5, strides=2, padding="same")(hidden))
    features = layers.Flatten(dtype=precision.distribution_dtype())(hidden)
    logit = layers.Dense(1, dtype=precision.distribution_dtype())(features)
    return tf_keras.Model(images, [features, logit], name="discriminator")


def mlp(input_shape, hidden_units, latent_dim, activation="relu", posterior=None,
        likelihood="bernoulli"):
    """``(encoder, decoder)``: MLPs of ``hidden_units`` (mirrored in the decoder), a
    ``posterior`` layer (default: diagonal Gaussian) and the ``likelihood`` head."""
    posterior = posterior or MultivariateNormalDiag(latent_dim, name="q_z_given_x")
    output = head(likelihood, input_shape)
    return (encoder(input_shape, mlp_encoder_body(hidden_units, activation), posterior),
            decoder(latent_dim, mlp_decoder_body(hidden_units, output.num_params, activation),
                    output))


def conv(input_shape, filters, blocks, latent_dim, posterior, likelihood="bernoulli",
         name="model", activation="relu"):
    """``(encoder, decoder)``: stride-2 convolutions of ``filters`` (``blocks`` residual
    ones after each), the ``posterior`` layer; a dense layer to the smallest feature map,
    transposed convolutions back, the ``likelihood`` head (``name``: the builder's, for its
    one-line refusal of an image size the strides do not divide). ``activation``: of the
    strided convolutions and the dense layer, "gated" for ``GatedConv2D``/``GatedDense``."""
    stride = conv_stride(input_shape, filters, name)
    images_to_codes = encoder(input_shape, conv_encoder_body(filters, blocks, activation),
                              posterior)
    output = head(likelihood, input_shape)
    return images_to_codes, decoder(latent_dim, conv_decoder_body(
        filters, input_shape, stride, output.params_per_pixel, blocks, activation), output)
