"""Held-out evaluation of a VAE in nats per example.

For each image x, with ``z_s ~ q(z|x)``, s = 1..S::

    reconstruction(x) = -(1/S) sum_s log p(x | z_s)         (distortion)
    kl(x)             = KL(q(z|x) || p(z))                   (rate; analytic where TFP has it,
                                                             else Monte Carlo from the z_s)
    elbo(x)           = -(reconstruction(x) + kl(x))         <= log p(x)

With ``log_likelihood_samples=K`` it also estimates log p(x) by importance sampling with
the encoder as proposal, ``z_k ~ q(z|x)``, k = 1..K (the IWAE bound of Burda et al. 2016)::

    log p(x) ~= log (1/K) sum_k exp(log p(x|z_k) + log p(z_k) - log q(z_k|x))

a lower bound in expectation that rises with K towards log p(x) (K = 5000 for benchmark
rows). The log-weights are the model's own (``model.log_weights``: summed over the layers
of a hierarchical model). The K samples are drawn ``chunk`` at a time and folded into a
running log-sum-exp, so memory does not grow with K.

``evaluate`` averages every term over every example of the dataset. The ELBO is the true
bound whatever beta the model was trained with. Sampling is seeded, so evaluating the same
weights on the same data gives the same numbers.
"""

import math

import numpy as np
import tensorflow as tf
import tf_keras

from zoo import data, datasets
from zoo.checks import reported_as_data_errors
from zoo.errors import ConfigError, require_int

SUBSET = 2000  # test images behind a row's pretrained-weights check


def test_split(model, name, batch_size=128):
    """The test split of the dataset ``name`` (``zoo.data.load``) as ``model`` takes it:
    binarized for a Bernoulli decoder (the dataset's default binarization), grey levels for
    the other likelihoods where the dataset has them, labelled for a conditional model."""
    binarization = datasets.binarization_for(name, grey=model.data_kind != "binary")
    return data.load(name, "test", batch_size, binarization=binarization,
                     labels=model.conditional)


def evaluate(model, dataset, samples=1, seed=0, verbose=1, batch_size=128,
             log_likelihood_samples=None, chunk=100, objective_metrics=True):
    """Returns ``{"elbo_nats", "reconstruction_nats", "kl_nats", "examples", "samples"}``,
    and ``"log_likelihood_nats"``, ``"log_likelihood_samples"`` with
    ``log_likelihood_samples``; all in nats per example. A model without a bound (an
    autoencoder whose codes are a point mass: ``model.has_elbo`` False) has neither an
    ELBO nor a log p(x): it returns ``"reconstruction_nats"`` (-log p(x|z) at the code),
    ``"examples"``, ``"samples"`` and ``"no_likelihood"``, one line saying why, whatever
    ``log_likelihood_samples`` asks. For a likelihood of 8-bit pixels
    (the logistic mixture, a probability mass) also ``"elbo_bits_per_dim"`` and
    ``"log_likelihood_bits_per_dim"``: -nats / (D ln 2), D pixels times channels. For an
    objective that declares metrics of its own (``Objective.metrics``: beta_tcvae's
    ``total_correlation``, mmd_vae's ``mmd``, ...) also ``"objective_metrics"``: each one's
    mean over the examples, from the objective run once per batch at full KL weight (its
    own units; a batch statistic such as the MMD is estimated batch by batch), unless
    ``objective_metrics=False`` or the model came from a row file without the parts they
    need (FactorVAE's discriminator: ``pretrained.load_row``).

    ``dataset`` is a ``tf.data.Dataset`` of batches ``x`` or ``(x, ...)``, an array of
    images (evaluated in batches of ``batch_size``), or a dataset's name
    (``"binarized_mnist"``: its test split, as ``test_split`` gives it); every example
    counts once (the last, smaller batch too). ``samples`` is S above,
    ``log_likelihood_samples`` is K. The step is traced once per model, settings and
    strategy in scope: evaluating again (each epoch, say) runs the same graph.
    """
    require_int("samples", samples)
    if log_likelihood_samples is not None:
        require_int("log_likelihood_samples", log_likelihood_samples)
    require_int("chunk", chunk)
    if isinstance(dataset, str):
        dataset = test_split(model, dataset, batch_size)
    dataset = model.checked(dataset, "evaluation data")
    if not isinstance(dataset, tf.data.Dataset):
        dataset = tf.data.Dataset.from_tensor_slices(dataset).batch(batch_size)

    declared = own_metrics(model) if objective_metrics else []
    bound = model.has_elbo
    if not bound:  # a point mass on a continuous space: no KL, no ELBO, no log p(x)
        log_likelihood_samples = None
    step = evaluation_step(model, samples, log_likelihood_samples, chunk, declared)
    names = ["reconstruction_nats"] + (["kl_nats"] if bound else [])
    names += ["log_likelihood_nats"] if log_likelihood_samples else []
    names += declared
    totals = np.zeros(len(names))
    examples = 0
    batches = int(dataset.cardinality())
    # The bar shows the running means over the examples so far, as the result reports them
    # (Keras's own average of the batches' means weights a short last batch as a full one).
    headline = "-elbo" if bound else "recon"
    progress = tf_keras.utils.Progbar(batches if batches > 0 else None, verbose=verbose,
                                      unit_name="batch",
                                      stateful_metrics=[headline, "log p(x)"])
    with reported_as_data_errors("evaluation data", model.data_kind):
        for index, batch in enumerate(dataset):
            inputs = model.model_inputs(*batch) if isinstance(batch, tuple) else (
                model.model_inputs(batch))
            batch_seed = tf.random.experimental.stateless_fold_in(
                tf.constant([seed, 0], tf.int64), index)
            terms = step(inputs, batch_seed)
            totals += [np.sum(term, dtype=np.float64) for term in terms]
            examples += int(model.images_of(inputs).shape[0])
            shown = [(headline, (totals[0] + (totals[1] if bound else 0.0)) / examples)]
            shown += [("log p(x)", totals[2] / examples)] if log_likelihood_samples else []
            progress.update(index + 1, shown)
    if examples == 0:
        raise ConfigError("the evaluation dataset is empty")
    metrics = {name: float(total) / examples
               for name, total in zip(names, totals, strict=True)}
    if bound:
        metrics["elbo_nats"] = -(metrics["reconstruction_nats"] + metrics["kl_nats"])
    metrics.update(examples=examples, samples=samples)
    if declared:
        metrics["objective_metrics"] = {name: metrics.pop(name) for name in declared}
    note = getattr(posterior_layer(model), "likelihood_note", None)
    if log_likelihood_samples:
        metrics["log_likelihood_samples"] = log_likelihood_samples
        if note:  # a point-mass posterior: the estimate is a bound (VectorQuantizer)
            metrics["log_likelihood_note"] = note
    if not bound:  # why there is none (PointMass)
        metrics["no_likelihood"] = note or (f"no log p(x): {type(model.objective).__name__} "
                                            "reports no bound")
    if model.data_kind == "8bit":  # probability masses: bits per dimension
        dimensions = math.prod(model.image_shape) * math.log(2)
        if bound:
            metrics["elbo_bits_per_dim"] = -metrics["elbo_nats"] / dimensions
        if "log_likelihood_nats" in metrics:
            metrics["log_likelihood_bits_per_dim"] = (-metrics["log_likelihood_nats"]
                                                      / dimensions)
    return metrics


def posterior_layer(model):
    """The encoder's last layer, its posterior layer (the zoo's networks end in one)."""
    return model.encoder.layers[-1] if model.encoder.layers else None


def own_metrics(model):
    """The names of the metrics ``model``'s objective declares, [] for a model loaded
    without parts they need (``parts_left_out``, set by ``pretrained.load_row``)."""
    if getattr(model, "parts_left_out", ()):
        return []
    return list(getattr(model.objective, "metrics", {}))


def evaluation_step(model, samples, log_likelihood_samples, chunk, declared=()):
    """The traced step ``(inputs, batch_seed) -> per-example terms`` (reconstruction, KL,
    then log p(x) and the objective's metrics where asked) of ``evaluate`` for
    ``model`` and these settings under the strategy in scope: made once and kept on the
    model (past Keras's attribute tracking), so evaluating again, each epoch say, traces
    nothing anew; inside another strategy's scope, a step of its own."""
    steps = model.__dict__.get("_evaluation_steps")
    if steps is None:
        steps = {}
        object.__setattr__(model, "_evaluation_steps", steps)
    key = (samples, log_likelihood_samples, chunk, tuple(declared),
           tf.distribute.get_strategy())
    if key not in steps:
        @tf.function
        def step(inputs, batch_seed):
            terms = elbo_terms(model, inputs, samples, batch_seed)
            terms = terms if model.has_elbo else terms[:1]  # no KL without a density
            if log_likelihood_samples is not None:
                importance_seed = tf.random.experimental.stateless_fold_in(batch_seed, -1)
                terms += (log_likelihood(model, inputs, log_likelihood_samples,
                                         importance_seed, chunk),)
            if declared:  # the objective's own metrics, from noise of their own
                values = model.objective(
                    model, inputs, tf.random.experimental.stateless_fold_in(batch_seed, -2),
                    1.0, False)
                terms += tuple(values[name] for name in declared)
            return terms

        steps[key] = step
    return steps[key]


def elbo_terms(model, inputs, samples, seed):
    """Per-example ``(reconstruction, kl)`` in nats, each of shape (batch,), from
    ``samples`` codes per example (the KL analytic where TFP has it)."""
    terms = model.terms(inputs, samples, seed)
    return terms.reconstruction, terms.kl


def log_likelihood(model, inputs, samples, seed, chunk=100):
    """Per-example importance-sampled estimate of log p(x) in nats, shape (batch,).

    Draws ``samples`` (K) codes per example, ``chunk`` at a time (the last chunk only what
    is left), and folds each chunk's log-weights (``model.log_weights``) into a running
    log-sum-exp.
    """
    seed = tf.cast(seed, tf.int64)
    running = tf.fill([tf.shape(model.images_of(inputs))[0]], tf.constant(-np.inf, tf.float32))
    for start in tf.range(0, samples, chunk):
        size = tf.minimum(chunk, samples - start)
        chunk_seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(start, tf.int64))
        log_weights = model.log_weights(inputs, size, chunk_seed)
        chunk_total = tf.reduce_logsumexp(log_weights, axis=0)
        running = tf.reduce_logsumexp(tf.stack([running, chunk_total]), axis=0)
    return running - tf.math.log(tf.cast(samples, tf.float32))


def subset_metrics(model, plan):
    """The test ELBO and reconstruction (nats) of the first 2,000 test images of a row's
    data (``plan``, its run resolved once), one code per image drawn with seed 0 (a model
    without a bound: the reconstruction alone): a quick, exact check that a row's weights
    are the row's (kept in its result file)."""
    test = data.load(plan.dataset, "test", SUBSET, binarization=plan.config.binarization,
                     seed=plan.config.seed, labels=model.conditional,
                     manual_dir=plan.manual_dir, data_dir=plan.data_dir).take(1)
    metrics = evaluate(model, test, samples=1, seed=0, verbose=0, objective_metrics=False)
    return {**{name: metrics[name] for name in ("elbo_nats", "reconstruction_nats")
               if name in metrics}, "examples": metrics["examples"], "samples": 1, "seed": 0}
