"""Models with a discriminator that an optimizer of its own trains inside the model's one
training step, on the objective's ``discriminator_loss``: FactorVAE's (its codes against
codes whose dimensions were permuted: ``disentangling.FactorVAE``), the adversarial
autoencoder's (its codes against draws of the prior: ``autoencoders.aae``) and VAE-GAN's
(images against reconstructions and the prior's images: ``VAEGAN``, ``perceptual.vae_gan``)."""

import tensorflow as tf
import tf_keras

from zoo.models.vae import ADAM, VAE, global_mean
from zoo.precision import loss_scaled

RMSPROP = tf_keras.optimizers.legacy.RMSprop


@tf_keras.utils.register_keras_serializable(package="zoo")
class Discriminated(VAE):
    """A VAE with a ``discriminator`` (a Keras model), which ``discriminator_optimizer``
    (``ADAM`` at ``discriminator_learning_rate`` with Adam's ``discriminator_betas``) trains
    inside the model's one training step on the objective's per-example
    ``discriminator_loss``, while the model's optimizer (``compile``) trains the rest on
    ``loss``; both from one forward pass, each averaged over the global batch. A run's
    learning-rate schedule is the model's optimizer's; the discriminator's rate stays
    constant. Both optimizers' states are kept in a ``.keras`` file and in a run's
    checkpoints. A GradientTape loop of one's own gets ``discriminator_loss`` from
    ``objective_values`` beside the loss, to minimise over
    ``discriminator.trainable_variables``."""

    def __init__(self, encoder, decoder, prior_layer, discriminator, objective,
                 discriminator_learning_rate=1e-4, discriminator_betas=(0.9, 0.999), **kwargs):
        super().__init__(encoder, decoder, prior_layer, objective, build_now=False, **kwargs)
        self.discriminator = discriminator
        self.discriminator_optimizer = self.part_optimizer(discriminator_learning_rate,
                                                           discriminator_betas)
        self.build((None, *self.image_shape))

    @staticmethod
    def part_optimizer(learning_rate, betas):
        """The optimizer of a part the model trains itself: Adam (loss-scaled under
        float16: ``precision.loss_scaled``)."""
        return loss_scaled(ADAM(learning_rate, beta_1=betas[0], beta_2=betas[1]))

    def own_optimizers(self):
        return [("discriminator_optimizer", self.discriminator_optimizer,
                 self.discriminator.trainable_variables)]

    def train_step(self, data):
        """The model's loss over every variable but the discriminator's, and the
        discriminator's loss over the discriminator's, from one forward pass."""
        inputs = self.model_inputs(*tf_keras.utils.unpack_x_y_sample_weight(data)[:2])
        with tf.GradientTape(persistent=True) as tape:
            values = self.objective_values(inputs, training=True)
            loss = global_mean(values["loss"]) + self._regularization()
            discriminator_loss = global_mean(values["discriminator_loss"])
        self.optimizer.minimize(loss, self.optimizer_variables, tape=tape)
        self.discriminator_optimizer.minimize(
            discriminator_loss, self.discriminator.trainable_variables, tape=tape)
        return self._tracked(values)


@tf_keras.utils.register_keras_serializable(package="zoo")
class VAEGAN(Discriminated):
    """VAE-GAN (Larsen et al. 2016; ``objectives.VAEGAN``): three parts, three optimizers,
    one forward pass per step. The model's optimizer (``compile``: a run's optimizer and
    learning-rate schedule) trains the encoder on ``loss``; ``decoder_optimizer`` the
    decoder on ``decoder_loss``; ``discriminator_optimizer`` the discriminator on
    ``discriminator_loss``; each loss averaged over the global batch. The decoder's and the
    discriminator's are RMSprop at constant rates, as Larsen et al. train, so a step that
    the objective's ``balance`` rests a part in (its gradient multiplied by 0, every replica
    alike: the balance is of the global batch) leaves that part's weights where they were
    (RMSprop's running mean square decays as after any zero gradient). Every optimizer's
    state is kept in a ``.keras`` file and in a run's checkpoints."""

    def __init__(self, encoder, decoder, prior_layer, discriminator, objective,
                 decoder_learning_rate=3e-4, discriminator_learning_rate=3e-4, **kwargs):
        super().__init__(encoder, decoder, prior_layer, discriminator, objective,
                         discriminator_learning_rate=discriminator_learning_rate,
                         discriminator_betas=None, **kwargs)
        self.decoder_optimizer = self.part_optimizer(decoder_learning_rate, None)

    @staticmethod
    def part_optimizer(learning_rate, betas):
        """RMSprop, without momentum (``betas`` unused; loss-scaled under float16)."""
        del betas
        return loss_scaled(RMSPROP(learning_rate))

    def own_optimizers(self):
        return [("decoder_optimizer", self.decoder_optimizer,
                 self.decoder.trainable_variables), *super().own_optimizers()]

    def train_step(self, data):
        """The encoder's, decoder's and discriminator's losses, each over its own part's
        variables, the latter two where the balance lets them train."""
        inputs = self.model_inputs(*tf_keras.utils.unpack_x_y_sample_weight(data)[:2])
        with tf.GradientTape(persistent=True) as tape:
            values = self.objective_values(inputs, training=True)
            loss = global_mean(values["loss"]) + self._regularization()
        context = tf.distribute.get_replica_context()
        gates = self.objective.balance(*[  # the global batch's means, on every replica
            context.all_reduce(tf.distribute.ReduceOp.SUM, global_mean(values[name]))
            for name in ("discriminator_real", "discriminator_fake")])
        self.optimizer.minimize(loss, self.optimizer_variables, tape=tape)
        for (_, optimizer, variables), name, gate in zip(
                self.own_optimizers(), ("decoder_loss", "discriminator_loss"), gates,
                strict=True):
            with tape:  # the gate a constant: the part's gradient times 1 or 0
                part_loss = global_mean(values[name]) * tf.cast(gate, loss.dtype)
            optimizer.minimize(part_loss, variables, tape=tape)
        return self._tracked(values)
