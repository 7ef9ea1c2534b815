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

With ``prior_epochs`` > 0 the prior trains after the autoencoder, on its frozen codes, as
in the paper (``VQVAE``): the last ``prior_epochs`` epochs of a ``fit`` train the prior
alone, with an optimizer of its own (the leaderboard row's recipe does). The default, 0,
trains both in every step (the prior on each step's codes, its gradient stopped at them),
so that a fit of any length trains the whole model, Keras's one epoch included.

TFP's PixelCNN models each index as it models a pixel, a discretized logistic mixture over
0..codes-1, though the codebook's order means nothing: each position's mixture of
``prior_mixtures`` components puts its mass on up to that many unrelated indices.
"""

import math
from typing import Annotated

import tensorflow as tf
import tf_keras
from tf_keras import layers

from zoo.errors import ConfigError
from zoo.models import networks
from zoo.models.likelihoods import Likelihood, head
from zoo.models.objectives import VectorQuantization
from zoo.models.posteriors import VectorQuantizer
from zoo.models.priors import PixelCNNCodeGrid
from zoo.models.registry import (Check, FloatRange, ImageShape, IntRange, NonNegativeFloat,
                                 NonNegativeInt, PositiveFloat, PositiveInt, Widths, register)
from zoo.models.vae import ADAM, VAE, compiled, global_mean
from zoo.precision import loss_scaled

SPACE = {"latent_dim": IntRange(4, 64, log=True), "codes": IntRange(16, 256, log=True),
         "commitment": FloatRange(0.1, 2.0, log=True), "learning_rate": FloatRange(1e-4, 3e-3)}

# the codebook's size: two codes at least (TFP's PixelCNN takes values 0..codes-1)
Codebook = Annotated[int, Check(int, lambda v: v >= 2, "an int >= 2, the codebook's size")]


@tf_keras.utils.register_keras_serializable(package="zoo")
class VQVAE(VAE):
    """A VQ-VAE trained in two stages within one ``fit`` of E epochs (van den Oord et al.
    train the PixelCNN prior after the autoencoder, on its codes):

    1. epochs 0 .. E - ``prior_epochs`` - 1: the autoencoder (encoder, codebook, decoder)
       by the model's optimizer (``compile``; a run's learning-rate schedule is its), on
       the objective's loss; the prior is not trained (and its term sends no gradient to
       the autoencoder: the codes' indices are discrete);
    2. the last ``prior_epochs`` epochs: the prior alone, on -log p(k) of the codes of the
       frozen autoencoder, by ``prior_optimizer`` (``ADAM``), its rate
       ``prior_learning_rate`` annealed by a cosine over those epochs. The model's
       optimizer updates nothing there but still counts each step (its ``iterations``
       order a run's data and check its epochs).

    The stage is the epoch's (``PriorStage``, which ``fit`` adds), so a resumed run trains
    as one never stopped, and more epochs on a finished run train the prior further (as
    many as ``prior_epochs``). A fit of no more than ``prior_epochs`` epochs is refused.
    The training step of each stage is traced when its first epoch begins; the stage
    stays as the last fit left it (``train_on_batch`` after a fit that ended in the prior's
    epochs trains the prior).
    ``prior_epochs=0`` trains both in every step, by the model's optimizer, as a
    GradientTape loop of one's own on ``objective_values(x, training=True)["loss"]`` does.
    Both optimizers' states are kept in a ``.keras`` file and in a run's checkpoints."""

    def __init__(self, encoder, decoder, prior_layer, objective, prior_epochs=0,
                 prior_learning_rate=1e-3, **kwargs):
        super().__init__(encoder, decoder, prior_layer, objective, **kwargs)
        self.prior_epochs, self.training_prior = prior_epochs, False
        self.prior_optimizer = loss_scaled(ADAM(prior_learning_rate))
        self.prior_learning_rate = prior_learning_rate

    @property
    def prior_variables(self):
        """The prior network's trainable variables (not the codebook it reads)."""
        return self.prior_layer.network.trainable_variables

    def own_optimizers(self):
        """The prior's, where it trains after the autoencoder (the model's optimizer then
        trains the autoencoder alone: ``optimizer_variables``)."""
        if not self.prior_epochs:
            return []
        return [("prior_optimizer", self.prior_optimizer, self.prior_variables)]

    def train_step(self, data):
        """One step of the epoch's stage: the autoencoder's loss over its variables, or the
        prior's -log p(k) over the prior's, each averaged over the global batch."""
        if not self.prior_epochs:
            return super().train_step(data)
        inputs = self.model_inputs(*tf_keras.utils.unpack_x_y_sample_weight(data)[:2])
        with tf.GradientTape() as tape:
            values = self.objective_values(inputs, training=True)
            term = "kl" if self.training_prior else "loss"  # kl: -log p(k), q a point mass
            loss = global_mean(values[term]) + self._regularization()
        if self.training_prior:
            self.prior_optimizer.minimize(loss, self.prior_variables, tape=tape)
            # after the step's batch is read: a resumed run's data start where its count is
            with tf.control_dependencies([loss]):
                self.optimizer.iterations.assign_add(1)
        else:
            self.optimizer.minimize(loss, self.optimizer_variables, tape=tape)
        return self._tracked(values)

    def fit(self, *args, callbacks=None, **kwargs):
        if self.prior_epochs:  # first: it refuses a fit too short before anything else
            callbacks = [PriorStage(), *(callbacks or [])]
        return super().fit(*args, callbacks=callbacks, **kwargs)


class PriorStage(tf_keras.callbacks.Callback):
    """``VQVAE``'s stages by epoch: the last ``prior_epochs`` of a fit train the prior (its
    rate annealed by a cosine over them), the others the autoencoder."""

    def on_train_begin(self, logs=None):
        epochs, later = self.params["epochs"], self.model.prior_epochs
        if epochs <= later:
            raise ConfigError(f"this VQ-VAE trains its prior alone in the last prior_epochs="
                              f"{later} epochs of a fit, after the autoencoder: fit it for "
                              f"more than {later} epochs (not {epochs}), or build it with "
                              "a smaller prior_epochs (0 trains both in every step)")

    def on_epoch_begin(self, epoch, logs=None):
        model = self.model
        first = self.params["epochs"] - model.prior_epochs
        training_prior = epoch >= first
        if training_prior:
            done = (epoch - first) / model.prior_epochs
            tf_keras.backend.set_value(model.prior_optimizer.lr, model.prior_learning_rate
                                       * 0.5 * (1 + math.cos(math.pi * done)))
        if training_prior != model.training_prior:
            model.training_prior = training_prior
            model.make_train_function(force=True)
            if training_prior and self.params.get("verbose"):
                print(f"epochs {first + 1}-{self.params['epochs']}: the prior alone, on the "
                      "frozen autoencoder's codes")


@register("vq_vae", space=SPACE)
def vq_vae(latent_dim: PositiveInt = 16, codes: Codebook = 64, filters: Widths = (32, 64),
           blocks: NonNegativeInt = 2, commitment: NonNegativeFloat = 0.25,
           prior_filters: PositiveInt = 64, prior_depth: PositiveInt = 5,
           prior_mixtures: PositiveInt = 5, prior_epochs: NonNegativeInt = 0,
           prior_learning_rate: PositiveFloat = 1e-3, input_shape: ImageShape = (28, 28, 1),
           learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli"):
    """VQ-VAE (van den Oord et al. 2017): a grid of codebook codes, a PixelCNN prior.

    The prior trains with the autoencoder (``prior_epochs=0``) or after it, in a fit's
    last ``prior_epochs`` epochs (``VQVAE``)."""
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
    model = VQVAE(encoder, decoder, prior, VectorQuantization(commitment), prior_epochs,
                  prior_learning_rate)
    return compiled(model, learning_rate)
