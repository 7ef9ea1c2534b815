"""Held-out evaluation of a VAE in nats per example.

For each image x, with ``z_s ~ q(z|x)``, s = 1..S::

    reconstruction(x) = -(1/S) sum_s log p(x | z_s)         (distortion)
    kl(x)             = KL(q(z|x) || p(z))                   (rate; analytic where TFP has it)
    elbo(x)           = -(reconstruction(x) + kl(x))         <= log p(x)

``evaluate`` averages them over every example of the dataset. The ELBO is the true bound
whatever beta the model was trained with. Sampling is seeded, so evaluating the same
weights on the same data gives the same numbers.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from zoo.checks import checked_images, reported_as_data_errors
from zoo.errors import ConfigError

tfd = tfp.distributions


def evaluate(model, dataset, samples=1, seed=0, verbose=1):
    """Returns ``{"elbo_nats", "reconstruction_nats", "kl_nats", "examples", "samples"}``.

    ``dataset`` yields batches ``x`` or ``(x, ...)``; every example counts once (the last,
    smaller batch too). ``samples`` is S above.
    """
    if not isinstance(samples, int) or samples < 1:
        raise ConfigError(f"samples must be an int >= 1, got {samples!r}")
    dataset = checked_images(dataset, model.image_shape, "evaluation data")
    step = tf.function(lambda x, batch_seed: elbo_terms(model, x, samples, batch_seed))
    totals = np.zeros(2)
    examples = 0
    batches = int(dataset.cardinality()) if isinstance(dataset, tf.data.Dataset) else -1
    progress = tf_keras.utils.Progbar(batches if batches > 0 else None, verbose=verbose,
                                      unit_name="batch")
    with reported_as_data_errors("evaluation data"):
        for index, batch in enumerate(dataset):
            x = batch[0] if isinstance(batch, tuple) else batch
            reconstruction, kl = step(x, tf.constant([seed, index], tf.int32))
            totals += [np.sum(reconstruction, dtype=np.float64), np.sum(kl, dtype=np.float64)]
            examples += int(x.shape[0])
            progress.update(index + 1, [("-elbo", float(np.mean(reconstruction + kl)))])
    if examples == 0:
        raise ConfigError("the evaluation dataset is empty")
    reconstruction, kl = (float(total) / examples for total in totals)
    return {"elbo_nats": -(reconstruction + kl), "reconstruction_nats": reconstruction,
            "kl_nats": kl, "examples": examples, "samples": samples}


def elbo_terms(model, x, samples, seed):
    """Per-example ``(reconstruction, kl)`` in nats, each of shape (batch,)."""
    posterior = model.encoder(x, training=False)
    z = posterior.sample(samples, seed=seed)                        # (S, batch, latent)
    batch = tf.shape(x)[0]
    rv_x = model.decoder(tf.reshape(z, [-1, model.latent_dim]), training=False)
    log_likelihood = tf.reshape(rv_x.log_prob(tf.tile(x, [samples, 1, 1, 1])),
                                [samples, batch])
    return -tf.reduce_mean(log_likelihood, axis=0), kl_divergence(posterior, model.prior, z)


def kl_divergence(posterior, prior, z):
    """Analytic KL where TFP registers one, else its Monte Carlo estimate from samples ``z``."""
    try:
        return tfd.kl_divergence(posterior, prior)
    except NotImplementedError:
        return tf.reduce_mean(posterior.log_prob(z) - prior.log_prob(z), axis=0)
