"""The building blocks every zoo VAE shares: posterior layer, KL term, loss, metric, model.

A zoo VAE maps images ``x`` to the distribution ``p(x|z)`` with ``z ~ q(z|x)``, the TFP
Probabilistic Layers way (``rv_x = model(x)``). Its training loss per example, in nats, is

    loss = -log p(x|z) + beta * KL(q(z|x) || p(z))

i.e. the negative ELBO when ``beta == 1``: the compiled loss gives the first term and
``KLDivergenceLoss`` adds the second exactly once, averaged over the batch.
"""

import contextlib
import random

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from zoo.checks import checked_images, reported_as_data_errors

tfd, tfpl = tfp.distributions, tfp.layers


class MultivariateNormalDiag(tfpl.DistributionLambda):
    """A ``tfd.MultivariateNormalDiag`` over ``event_size`` dims: the diagonal sibling of
    ``tfpl.MultivariateNormalTriL``.

    Takes ``2 * event_size`` parameters: the location, then the scale through softplus.
    Unlike ``tfpl.IndependentNormal``, it has an analytic KL against a
    ``MultivariateNormalDiag`` prior.
    """

    def __init__(self, event_size, convert_to_tensor_fn=tfd.Distribution.sample, **kwargs):
        super().__init__(lambda params: self.new(params, event_size), convert_to_tensor_fn,
                         **kwargs)
        self._event_size = event_size

    @staticmethod
    def new(params, event_size):
        loc, scale = tf.split(params, [event_size, event_size], axis=-1)
        return tfd.MultivariateNormalDiag(loc=loc, scale_diag=1e-5 + tf.nn.softplus(scale))

    @staticmethod
    def params_size(event_size):
        return 2 * event_size

    def get_config(self):
        return {"event_size": self._event_size, "name": self.name, "dtype": self.dtype}


class MultivariateNormalTriL(tfpl.MultivariateNormalTriL):
    """``tfpl.MultivariateNormalTriL`` whose training step also compiles with XLA.

    The same distribution as TFP's layer: ``scale_tril`` is ``fill_triangular(params)`` with
    ``softplus(.) + 1e-5`` on its diagonal. TFP builds it with ``tfb.FillScaleTriL``, whose
    gradient (through ``matrix_set_diag``) has a value-dependent shape that XLA rejects
    ("Reading input as constant from a dynamic tensor"); here the diagonal is selected with
    ``tf.where``, which compiles.
    """

    def __init__(self, event_size, convert_to_tensor_fn=tfd.Distribution.sample, **kwargs):
        # TFP's __init__ hard-wires its own ``new``; set up the DistributionLambda directly.
        tfpl.DistributionLambda.__init__(  # pylint: disable=non-parent-init-called
            self, lambda params: self.new(params, event_size), convert_to_tensor_fn, **kwargs)

    @staticmethod
    def new(params, event_size, validate_args=False, name=None):
        with tf.name_scope(name or "MultivariateNormalTriL"):
            params = tf.convert_to_tensor(params, name="params")
            tril = tfp.math.fill_triangular(params[..., event_size:])
            diagonal = tf.eye(event_size, dtype=tf.bool)
            scale_tril = tf.where(diagonal, tf.nn.softplus(tril) + 1e-5, tril)
            return tfd.MultivariateNormalTriL(loc=params[..., :event_size],
                                              scale_tril=scale_tril,
                                              validate_args=validate_args)


class PosteriorSampler:
    """The ``convert_to_tensor_fn`` of a zoo posterior: ``z = loc + scale @ eps``.

    ``eps ~ N(0, I)`` is a pure function of (seed, training step, row of the global batch):
    the rows of one global batch share one stateless draw, and each replica takes its own
    rows. So a run gives the same numbers on one device or N replicas, twice in one process,
    and after a restart from a checkpoint (the step is the optimizer's ``iterations``, which
    checkpoints restore). Between two training steps, the same input gets the same sample;
    ``zoo.evaluate`` draws its own seeded samples.
    """

    def __init__(self, seed=None):
        self.seed = random.randrange(2**31) if seed is None else seed
        self.step = None  # the optimizer's iterations, set by VAE.compile

    def __call__(self, posterior):
        loc = posterior.loc
        rows, latent = tf.shape(loc)[0], tf.shape(loc)[-1]
        replica, replicas = 0, 1
        context = tf.distribute.get_replica_context()
        if context is not None:
            replica, replicas = context.replica_id_in_sync_group, context.num_replicas_in_sync
        step = tf.zeros([], tf.int64) if self.step is None else tf.cast(self.step, tf.int64)
        seed = tf.stack([tf.constant(self.seed, tf.int64), step])
        eps = tf.random.stateless_normal([rows * replicas, latent], seed=seed, dtype=loc.dtype)
        return loc + posterior.scale.matvec(eps[replica * rows:(replica + 1) * rows])


class KLDivergenceLoss(tf_keras.layers.Layer):
    """Adds ``weight * mean over the batch of KL(q(z|x) || p(z))`` to the model's losses.

    The KL is analytic, in nats per example, and added once (TFP's activity-regularizer
    route adds it twice, TFP issue 1215; ``tfpl.KLDivergenceAddLoss`` sums it over the
    batch). The unweighted KL is also reported as the metric ``kl``. ``weight`` is a
    non-trainable variable, so a callback can anneal it. Passes the posterior through.
    """

    def __init__(self, prior, weight=1.0, **kwargs):
        super().__init__(**kwargs)
        self.prior = prior
        self.weight = self.add_weight(
            name="weight", shape=(), trainable=False,
            initializer=tf_keras.initializers.Constant(weight))

    def call(self, posterior):
        kl = tf.reduce_mean(tfd.kl_divergence(posterior, self.prior))
        self.add_loss(self.weight * kl)
        self.add_metric(kl, name="kl")
        return posterior


def negative_log_likelihood(x, rv_x):
    """``-log p(x|z)`` per example, in nats: the reconstruction term (distortion).

    For an ``Independent(Bernoulli(logits))`` (the zoo's decoders) it is summed from
    ``tf.nn.sigmoid_cross_entropy_with_logits`` = ``softplus(l) - x l``: the value of
    ``-rv_x.log_prob(x)`` at half the elementwise work (TFP evaluates two softplus terms and
    masks them); any other distribution uses ``-rv_x.log_prob(x)``.
    """
    distribution = getattr(rv_x, "tensor_distribution", rv_x)  # unwrapped from tfpl's layer
    bernoulli = getattr(distribution, "distribution", None)
    if isinstance(distribution, tfd.Independent) and isinstance(bernoulli, tfd.Bernoulli):
        logits = bernoulli.logits
        event_rank = distribution.event_shape.rank
        if logits is not None and event_rank is not None and x.shape == logits.shape:
            cross_entropy = tf.nn.sigmoid_cross_entropy_with_logits(
                labels=tf.cast(x, logits.dtype), logits=logits)
            return tf.reduce_sum(cross_entropy, axis=list(range(-event_rank, 0)))
    return -rv_x.log_prob(x)


class Reconstruction(tf_keras.metrics.Mean):
    """The mean of ``-log p(x|z)`` over examples (nats per example)."""

    def __init__(self, name="reconstruction", **kwargs):
        super().__init__(name=name, **kwargs)

    def update_state(self, x, rv_x, sample_weight=None):
        return super().update_state(negative_log_likelihood(x, rv_x), sample_weight)


def standard_normal_prior(latent_dim):
    """``p(z) = N(0, I)`` as a ``MultivariateNormalDiag`` (analytic KL with both posteriors)."""
    return tfd.MultivariateNormalDiag(loc=tf.zeros(latent_dim), scale_diag=tf.ones(latent_dim))


# Training steps per call of the compiled step function (Keras's ``steps_per_execution``):
# a step of these small models lasts a few milliseconds, and at 1 Keras's per-call Python
# work (callbacks, logs) takes a visible share of it on a CPU (see benchmarks/README.md).
# Batch-level callbacks run every 16 batches.
STEPS_PER_EXECUTION = 16


class VAE(tf_keras.Model):
    """A functional tf_keras model ``x -> p(x|z)``, ``z ~ q(z|x)``, with the KL term added.

    Attributes: ``encoder`` (x -> q(z|x)), ``decoder`` (z -> p(x|z)), ``prior`` (p(z)),
    ``kl_weight`` (beta, a variable), ``sampler`` (the encoder's PosteriorSampler).
    ``compile`` defaults to the zoo's loss and metrics and to ``steps_per_execution=16``, so
    ``model.compile(optimizer=...)`` is all a change of optimizer takes. ``fit``,
    ``evaluate`` and ``predict`` check the images' shape and range first.
    """

    def __init__(self, encoder, decoder, prior, sampler, beta=1.0, **kwargs):
        x = tf_keras.Input(shape=encoder.input_shape[1:], name="x")
        kl_term = KLDivergenceLoss(prior, beta, name="kl_divergence")
        super().__init__(inputs=x, outputs=decoder(kl_term(encoder(x))), **kwargs)
        self.encoder, self.decoder, self.prior = encoder, decoder, prior
        self.kl_weight = kl_term.weight
        self.sampler = sampler

    @property
    def image_shape(self):
        return tuple(self.input_shape[1:])

    @property
    def latent_dim(self):
        return self.prior.event_shape[0]

    def compile(self, optimizer="adam", loss=negative_log_likelihood, metrics=(),
                steps_per_execution=STEPS_PER_EXECUTION, **kwargs):
        super().compile(optimizer=optimizer, loss=loss, metrics=[Reconstruction(), *metrics],
                        steps_per_execution=steps_per_execution, **kwargs)
        self.sampler.step = self.optimizer.iterations

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        x = checked_images(x, self.image_shape, "training data")
        if isinstance(validation_data, tuple):
            validation_data = (checked_images(validation_data[0], self.image_shape,
                                              "validation data"), *validation_data[1:])
        elif validation_data is not None:
            validation_data = checked_images(validation_data, self.image_shape,
                                             "validation data")
        with reported_as_data_errors("training or validation data"):
            return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def train_on_batch(self, *args, **kwargs):
        with self._one_step_per_execution():
            return super().train_on_batch(*args, **kwargs)

    def test_on_batch(self, *args, **kwargs):
        with self._one_step_per_execution():
            return super().test_on_batch(*args, **kwargs)

    def predict_on_batch(self, *args, **kwargs):
        with self._one_step_per_execution():
            return super().predict_on_batch(*args, **kwargs)

    @contextlib.contextmanager
    def _one_step_per_execution(self):
        """Keras runs ``steps_per_execution`` steps per call even on the one batch of
        ``*_on_batch`` (and fails at the end of it): one step there, as ``fit`` does for an
        epoch's last few."""
        steps = self._steps_per_execution
        if steps is None:  # not compiled: Keras says so
            yield
            return
        saved = steps.numpy()
        steps.assign(1)
        try:
            yield
        finally:
            steps.assign(saved)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x = checked_images(x, self.image_shape, "evaluation data")
        with reported_as_data_errors("evaluation data"):
            return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        x = checked_images(x, self.image_shape, "prediction data")
        with reported_as_data_errors("prediction data"):
            return super().predict(x, *args, **kwargs)
