"""Likelihood heads p(x|z): TFP distribution layers that end a decoder network, and the
per-sample log-likelihood every objective and ``zoo.evaluate`` use.
"""

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

tfd, tfpl = tfp.distributions, tfp.layers


@tf_keras.utils.register_keras_serializable(package="zoo")
class IndependentBernoulli(tfpl.IndependentBernoulli):
    """Logits -> ``p(x|z) = prod_i Bernoulli(x_i | sigmoid(logits_i))`` over an event of
    ``event_shape``: ``tfpl.IndependentBernoulli`` whose tensor is the mean (the pixel
    probabilities) and whose config is its event shape (TFP's holds a lambda, which Keras
    warns of when saving and cannot rebuild)."""

    def __init__(self, event_shape, **kwargs):
        kwargs.pop("convert_to_tensor_fn", None)
        super().__init__(event_shape, convert_to_tensor_fn=tfd.Distribution.mean, **kwargs)
        self._event_shape_config = [int(size) for size in event_shape]

    def get_config(self):
        return {"event_shape": self._event_shape_config, "name": self.name,
                "dtype": self.dtype}


def bernoulli(image_shape):
    """The Bernoulli head over images of ``image_shape``; needs ``prod(image_shape)``
    logits."""
    return IndependentBernoulli(image_shape, name="p_x_given_z")


def log_likelihood(rv_x, x, samples=1):
    """``log p(x|z_s)`` in nats, shape ``(samples, batch)``.

    ``rv_x`` is the decoder's output for ``samples * batch`` codes, sample-major (the codes
    of ``z`` with shape (samples, batch, latent) flattened); ``x`` is the batch of images,
    broadcast against each sample rather than tiled.

    For ``Independent(Bernoulli(logits))`` (the Bernoulli head) it is summed from the
    stable cross-entropy ``max(l, 0) - x l + log(1 + exp(-|l|))``, the value of
    ``rv_x.log_prob(x)`` at less elementwise work (TFP evaluates two softplus terms and
    masks them). Any other distribution uses ``log_prob`` of its batch reshaped to
    (samples, batch), on x broadcast to that shape (TFP's BatchReshape does not broadcast).
    """
    distribution = getattr(rv_x, "tensor_distribution", rv_x)  # unwrapped from tfpl's layer
    batch = tf.shape(x)[0]
    bernoulli_ = getattr(distribution, "distribution", None)
    if (isinstance(distribution, tfd.Independent) and isinstance(bernoulli_, tfd.Bernoulli)
            and bernoulli_.logits is not None):
        event_rank = distribution.event_shape.rank
        logits = bernoulli_.logits
        logits = tf.reshape(logits, tf.concat([[samples, batch], tf.shape(logits)[1:]], 0))
        x = tf.cast(x, logits.dtype)
        cross_entropy = (tf.nn.relu(logits) - x * logits
                         + tf.math.log1p(tf.exp(-tf.abs(logits))))
        return -tf.reduce_sum(cross_entropy, axis=list(range(-event_rank, 0)))
    per_sample = tfd.BatchReshape(distribution, tf.stack([samples, batch]))
    return per_sample.log_prob(tf.broadcast_to(x, tf.concat([[samples], tf.shape(x)], 0)))
