"""Held-out evaluation of a VAE in nats per example.

For each image x, with ``z_s ~ q(z|x)``, s = 1..S::

    reconstruction(x) = -(1/S) sum_s log p(x | z_s)         (distortion)
    kl(x)             = KL(q(z|x) || p(z))                   (rate; analytic where TFP has it)
    elbo(x)           = -(reconstruction(x) + kl(x))         <= log p(x)

With ``log_likelihood_samples=K`` it also estimates log p(x) by importance sampling with
the encoder as proposal, ``z_k ~ q(z|x)``, k = 1..K (the IWAE bound of Burda et al. 2016)::

    log p(x) ~= log (1/K) sum_k exp(log p(x|z_k) + log p(z_k) - log q(z_k|x))

a lower bound in expectation that rises with K towards log p(x) (K = 5000 for benchmark
rows). The K samples are drawn ``chunk`` at a time and folded into a running log-sum-exp,
so memory does not grow with K.

``evaluate`` averages every term over every example of the dataset. The ELBO is the true
bound whatever beta the model was trained with. Sampling is seeded, so evaluating the same
weights on the same data gives the same numbers.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from zoo.checks import checked_images, reported_as_data_errors
from zoo.errors import ConfigError, require_int

tfd = tfp.distributions


def evaluate(model, dataset, samples=1, seed=0, verbose=1, batch_size=128,
             log_likelihood_samples=None, chunk=100):
    """Returns ``{"elbo_nats", "reconstruction_nats", "kl_nats", "examples", "samples"}``,
    and ``"log_likelihood_nats"``, ``"log_likelihood_samples"`` with
    ``log_likelihood_samples``; all in nats per example.

    ``dataset`` is a ``tf.data.Dataset`` of batches ``x`` or ``(x, ...)``, or an array of
    images (evaluated in batches of ``batch_size``); every example counts once (the last,
    smaller batch too). ``samples`` is S above, ``log_likelihood_samples`` is K.
    """
    require_int("samples", samples)
    if log_likelihood_samples is not None:
        require_int("log_likelihood_samples", log_likelihood_samples)
    require_int("chunk", chunk)
    dataset = checked_images(dataset, model.image_shape, "evaluation data")
    if not isinstance(dataset, tf.data.Dataset):
        dataset = tf.data.Dataset.from_tensor_slices(dataset).batch(batch_size)

    @tf.function
    def step(x, batch_seed):
        terms = elbo_terms(model, x, samples, batch_seed)
        if log_likelihood_samples is None:
            return terms
        return (*terms, log_likelihood(model, x, log_likelihood_samples, batch_seed + 1,
                                       chunk))

    names = ["reconstruction_nats", "kl_nats"]
    names += ["log_likelihood_nats"] if log_likelihood_samples else []
    totals = np.zeros(len(names))
    examples = 0
    batches = int(dataset.cardinality())
    progress = tf_keras.utils.Progbar(batches if batches > 0 else None, verbose=verbose,
                                      unit_name="batch")
    with reported_as_data_errors("evaluation data"):
        for index, batch in enumerate(dataset):
            x = batch[0] if isinstance(batch, tuple) else batch
            terms = step(x, tf.constant([seed, index], tf.int32))
            totals += [np.sum(term, dtype=np.float64) for term in terms]
            examples += int(x.shape[0])
            shown = [("-elbo", float(np.mean(terms[0] + terms[1])))]
            shown += [("log p(x)", float(np.mean(terms[2])))] if len(terms) > 2 else []
            progress.update(index + 1, shown)
    if examples == 0:
        raise ConfigError("the evaluation dataset is empty")
    metrics = {name: float(total) / examples for name, total in zip(names, totals)}
    metrics["elbo_nats"] = -(metrics["reconstruction_nats"] + metrics["kl_nats"])
    metrics.update(examples=examples, samples=samples)
    if log_likelihood_samples:
        metrics["log_likelihood_samples"] = log_likelihood_samples
    return metrics


def elbo_terms(model, x, samples, seed):
    """Per-example ``(reconstruction, kl)`` in nats, each of shape (batch,)."""
    posterior = model.encoder(x, training=False)
    z = posterior.sample(samples, seed=seed)                        # (S, batch, latent)
    batch = tf.shape(x)[0]
    rv_x = model.decoder(tf.reshape(z, [-1, model.latent_dim]), training=False)
    log_likelihood = tf.reshape(rv_x.log_prob(tf.tile(x, [samples, 1, 1, 1])),
                                [samples, batch])
    return -tf.reduce_mean(log_likelihood, axis=0), kl_divergence(posterior, model.prior, z)


def log_likelihood(model, x, samples, seed, chunk=100):
    """Per-example importance-sampled estimate of log p(x) in nats, shape (batch,).

    Draws ``samples`` (K) codes from q(z|x), ``chunk`` at a time, and folds each chunk's
    log weights ``log p(x|z) + log p(z) - log q(z|x)`` into a running log-sum-exp.
    """
    posterior = model.encoder(x, training=False)
    batch = tf.shape(x)[0]
    chunk = min(chunk, samples)
    multiples = tf.concat([[chunk], tf.ones(tf.rank(x) - 1, tf.int32)], axis=0)
    x_repeated = tf.tile(x, multiples)                            # (chunk * batch, ...)
    running = tf.fill([batch], tf.constant(-np.inf, x.dtype))
    for start in tf.range(0, samples, chunk):
        size = tf.minimum(chunk, samples - start)
        z = posterior.sample(chunk, seed=tf.stack([seed[0], seed[1] * 1_000_003 + start]))
        rv_x = model.decoder(tf.reshape(z, [-1, model.latent_dim]), training=False)
        log_px_given_z = tf.reshape(rv_x.log_prob(x_repeated), [chunk, batch])
        log_weights = log_px_given_z + model.prior.log_prob(z) - posterior.log_prob(z)
        chunk_total = tf.reduce_logsumexp(log_weights[:size], axis=0)
        running = tf.reduce_logsumexp(tf.stack([running, chunk_total]), axis=0)
    return running - tf.math.log(tf.cast(samples, x.dtype))


def kl_divergence(posterior, prior, z):
    """Analytic KL where TFP registers one, else its Monte Carlo estimate from samples ``z``."""
    try:
        return tfd.kl_divergence(posterior, prior)
    except NotImplementedError:
        return tf.reduce_mean(posterior.log_prob(z) - prior.log_prob(z), axis=0)
