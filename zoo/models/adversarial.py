"""Models with a discriminator that an optimizer of its own trains inside the model's one
training step, on the objective's ``discriminator_loss``: FactorVAE's (its codes against
codes whose dimensions were permuted: ``disentangling.FactorVAE``) and the adversarial
autoencoder's (its codes against draws of the prior: ``autoencoders.aae``)."""

import tensorflow as tf
import tf_keras

from zoo.models.vae import ADAM, VAE, global_mean


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
        self.discriminator_optimizer = ADAM(discriminator_learning_rate,
                                            beta_1=discriminator_betas[0],
                                            beta_2=discriminator_betas[1])
        self.build((None, *self.image_shape))

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
