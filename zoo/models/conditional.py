"""Conditional VAEs on class labels (Sohn, Lee & Yan 2015).

Encoder and decoder both see the label y (one-hot), the prior does not::

    q(z|x, y),   p(z) = N(0, I),   p(x|z, y)
    loss(x, y) = -log p(x|z, y) + KL(q(z|x, y) || p(z)),   z ~ q(z|x, y)   (nats per example)

The labels travel through ``fit`` as Keras targets, ``model.fit(images, labels)`` or a
dataset of ``(images, labels)`` batches (``zoo.data.load(..., labels=True)``, which
``zoo train`` uses for a conditional model), and through the one ``train_step``: the
model's inputs are ``(images, labels)`` (``model_inputs``). With z fixed and y varied the
decoder draws the same "style" as each class: ``zoo plot samples`` draws a row per class.
Defaults: mlp_vae's networks, 10 classes (mnist, fashion_mnist).
"""

import tensorflow as tf
import tf_keras
from tf_keras import layers

from zoo.errors import DataError
from zoo.models import networks
from zoo.models.likelihoods import Likelihood, head
from zoo.models.posteriors import MultivariateNormalDiag
from zoo.models.priors import StandardNormal
from zoo.models.registry import (Choice, FloatRange, ImageShape, IntRange, PositiveFloat,
                                 PositiveInt, Widths, register)
from zoo.models.vae import VAE, compiled

SPACE = {"latent_dim": IntRange(8, 64, log=True),
         "hidden_units": Choice(("256,128", "512,256", "1024,512")),
         "learning_rate": FloatRange(1e-4, 3e-3)}


@tf_keras.utils.register_keras_serializable(package="zoo")
class ConditionalVAE(VAE):
    """A VAE whose ``encoder`` takes ``[images, one_hot(labels)]`` and whose ``decoder``
    takes ``[codes, one_hot(labels)]``; its inputs are ``(images, labels)``, labels
    integers in [0, classes)."""

    conditional = True

    def __init__(self, encoder, decoder, prior_layer, classes, **kwargs):
        super().__init__(encoder, decoder, prior_layer, build_now=False, **kwargs)
        self.classes = classes
        self.build([(None, *self.image_shape), (None,)])  # images and integer labels

    @property
    def image_shape(self):
        return tuple(self.encoder.input_shape[0][1:])

    def model_inputs(self, x, y=None):
        if y is None and isinstance(x, (tuple, list)) and len(x) == 2:
            return tuple(x)  # model((images, labels)), predict((images, labels))
        if y is None:
            raise DataError("a conditional model needs class labels with its images: "
                            "fit(images, labels), evaluate or predict on (images, labels), or "
                            "a dataset of (images, labels) batches (zoo.data.load(..., "
                            "labels=True))")
        return x, y

    def images_of(self, inputs):
        return inputs[0]

    def one_hot(self, labels):
        return tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), self.classes)

    def posterior(self, inputs, training=False):
        images, labels = inputs
        return self.encoder([images, self.one_hot(labels)], training=training)

    def decode(self, codes, inputs=None, training=False):
        """p(x|z, y) for ``codes`` (rows); ``inputs`` ``(images, labels)`` of a batch whose
        rows the codes repeat, sample-major, or the labels alone, one per code."""
        labels = inputs[1] if isinstance(inputs, (tuple, list)) else inputs
        labels = self.one_hot(labels)
        labels = tf.tile(labels, [tf.shape(codes)[0] // tf.shape(labels)[0], 1])
        return self.decoder([codes, labels], training=training)

    def fit(self, x=None, y=None, *args, **kwargs):
        if isinstance(x, (tf.data.Dataset, tf.distribute.DistributedDataset)):
            # A distributed dataset (zoo.train under any strategy) has one spec a replica.
            if not isinstance(x.element_spec, tuple) or len(x.element_spec) < 2:
                self.model_inputs(x)  # says what it needs
            labels = tf.nest.flatten(x.element_spec[1], expand_composites=True)[0]
            if labels.shape.rank == 2 and labels.shape[1] not in (1, None):
                raise DataError(f"labels must be one class index per example, got batches "
                                f"of shape {tuple(labels.shape)} (one-hot?); map them to "
                                "tf.argmax(labels, axis=1)")
        else:
            _, labels = self.model_inputs(x, y)
            self.check_labels(tf.convert_to_tensor(labels).numpy())
        return super().fit(x, y, *args, **kwargs)

    def check_labels(self, labels):
        """Raises a DataError naming the fix unless ``labels`` (NumPy) are one integer class
        index in [0, classes) per example."""
        got = f"got {labels.dtype} labels of shape {labels.shape}"
        if labels.ndim == 2 and labels.shape[1] > 1:
            raise DataError(f"labels must be one class index per example, {got} (one-hot?); "
                            "pass labels.argmax(axis=1)")
        if labels.dtype.kind not in "iu":
            whole = labels.dtype.kind == "f" and (labels == labels.round()).all()
            raise DataError(f"labels must be integer class indices, {got}; "
                            + ("pass labels.astype('int64')" if whole else
                               "pass the class of each example as an integer"))
        if labels.min() < 0 or labels.max() >= self.classes:
            raise DataError(f"labels must be integers in [0, {self.classes}), got values in "
                            f"[{labels.min()}, {labels.max()}]; build the model with "
                            f"classes=N for labels 0 to N-1")


def conditional_mlp(input_shape, hidden_units, latent_dim, classes, likelihood):
    """``(encoder, decoder)``: [images, one-hot labels] -> MLP -> diagonal Gaussian q(z|x,y);
    [codes, one-hot labels] -> MLP (mirrored) -> the ``likelihood`` head."""
    images, labels = tf_keras.Input(input_shape), tf_keras.Input((classes,))
    hidden = layers.Concatenate()([layers.Flatten()(images), labels])
    for layer in networks.mlp_encoder_body(hidden_units)[1:]:  # after its Flatten
        hidden = layer(hidden)
    posterior = MultivariateNormalDiag(latent_dim, name="q_z_given_x_y")
    encoder = tf_keras.Model([images, labels],
                             posterior(layers.Dense(posterior.num_params)(hidden)),
                             name="encoder")
    codes, code_labels = tf_keras.Input((latent_dim,)), tf_keras.Input((classes,))
    output = head(likelihood, input_shape)
    hidden = layers.Concatenate()([codes, code_labels])
    for layer in networks.mlp_decoder_body(hidden_units, output.num_params):
        hidden = layer(hidden)
    decoder = tf_keras.Model([codes, code_labels], output(hidden), name="decoder")
    return encoder, decoder


@register("cvae", space=SPACE)
def cvae(latent_dim: PositiveInt = 32, hidden_units: Widths = (512, 256),
         classes: PositiveInt = 10, input_shape: ImageShape = (28, 28, 1),
         learning_rate: PositiveFloat = 1e-3, likelihood: Likelihood = "bernoulli"):
    """Conditional VAE on class labels, q(z|x,y) and p(x|z,y) (Sohn et al. 2015), MLP."""
    encoder, decoder = conditional_mlp(input_shape, hidden_units, latent_dim, classes,
                                       likelihood)
    return compiled(ConditionalVAE(encoder, decoder, StandardNormal(latent_dim), classes),
                    learning_rate)
