"""Posterior layers q(z|x): TFP distribution layers that end an encoder network.

Each is a ``tfpl.DistributionLambda`` with static ``new(params, event_size)`` and
``params_size(event_size)``, as TFP's own layers: a ``Dense(params_size(d))`` before it
gives q(z|x). As a tensor the layer's output is a sample (TFP's default); training draws
its codes through ``reparameterized_sample`` instead, from noise the model controls.
"""

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

tfd, tfpl = tfp.distributions, tfp.layers

SCALE_FLOOR = 1e-5  # added to every softplus scale: q(z|x) never collapses to a point


@tf_keras.utils.register_keras_serializable(package="zoo")
class MultivariateNormalDiag(tfpl.DistributionLambda):
    """``q(z|x) = N(loc, diag(scale^2))`` over ``event_size`` dims: the diagonal sibling of
    ``tfpl.MultivariateNormalTriL``.

    Takes ``2 * event_size`` parameters: the location, then the scale through
    ``softplus(.) + 1e-5``. Unlike ``tfpl.IndependentNormal``, it has an analytic KL
    against a ``MultivariateNormalDiag`` prior.
    """

    def __init__(self, event_size, convert_to_tensor_fn=tfd.Distribution.sample, **kwargs):
        kwargs.pop("make_distribution_fn", None)
        super().__init__(_Maker(type(self).new, event_size), convert_to_tensor_fn, **kwargs)
        self._event_size = event_size

    @staticmethod
    def new(params, event_size):
        loc, scale = tf.split(params, [event_size, event_size], axis=-1)
        return tfd.MultivariateNormalDiag(loc=loc,
                                          scale_diag=SCALE_FLOOR + tf.nn.softplus(scale))

    @staticmethod
    def params_size(event_size):
        return 2 * event_size

    def get_config(self):
        return {"event_size": self._event_size, "name": self.name, "dtype": self.dtype}


@tf_keras.utils.register_keras_serializable(package="zoo")
class MultivariateNormalTriL(tfpl.MultivariateNormalTriL):
    """``tfpl.MultivariateNormalTriL`` (full covariance) whose training step also compiles
    with XLA.

    The same distribution as TFP's layer: ``scale_tril`` is ``fill_triangular(params)`` with
    ``softplus(.) + 1e-5`` on its diagonal. TFP builds it with ``tfb.FillScaleTriL``, whose
    gradient (through ``matrix_set_diag``) has a value-dependent shape that XLA rejects
    ("Reading input as constant from a dynamic tensor"); here the diagonal is selected with
    ``tf.where``, which compiles.
    """

    def __init__(self, event_size, convert_to_tensor_fn=tfd.Distribution.sample, **kwargs):
        kwargs.pop("make_distribution_fn", None)
        # TFP's __init__ hard-wires its own ``new``; set up the DistributionLambda directly.
        tfpl.DistributionLambda.__init__(  # pylint: disable=non-parent-init-called
            self, _Maker(type(self).new, event_size), convert_to_tensor_fn, **kwargs)
        self._event_size = event_size

    @staticmethod
    def new(params, event_size, validate_args=False, name=None):
        with tf.name_scope(name or "MultivariateNormalTriL"):
            params = tf.convert_to_tensor(params, name="params")
            tril = tfp.math.fill_triangular(params[..., event_size:])
            diagonal = tf.eye(event_size, dtype=tf.bool)
            scale_tril = tf.where(diagonal, tf.nn.softplus(tril) + SCALE_FLOOR, tril)
            return tfd.MultivariateNormalTriL(loc=params[..., :event_size],
                                              scale_tril=scale_tril,
                                              validate_args=validate_args)

    def get_config(self):
        return {"event_size": self._event_size, "name": self.name, "dtype": self.dtype}


class _Maker:
    """``params -> new(params, event_size)``: a named callable rather than a closure."""

    def __init__(self, new, event_size):
        self.new, self.event_size = new, event_size

    def __call__(self, params):
        return self.new(params, self.event_size)


def reparameterized_sample(posterior, samples, seed):
    """``samples`` codes per example, shape ``(samples, batch, *event)``: ``z = f(eps)``.

    ``eps ~ N(0, I)`` is one stateless draw (``seed``, shape [2]) over the rows of the
    *global* batch, of which each replica takes its own rows; so the codes of an example
    do not depend on how many replicas share the batch. ``f`` is the location-scale map of
    a Gaussian (``loc + scale @ eps``), composed with the bijector of a
    ``TransformedDistribution`` (a flow posterior).
    """
    distribution = getattr(posterior, "tensor_distribution", posterior)  # tfpl's wrapper
    if isinstance(distribution, tfd.Independent):
        distribution = distribution.distribution
    if isinstance(distribution, tfd.MultivariateNormalLinearOperator):  # before flows: TFP
        eps = _global_batch_noise(distribution, samples, seed)          # makes it one
        return distribution.loc + distribution.scale.matvec(eps)
    if isinstance(distribution, tfd.Normal):
        eps = _global_batch_noise(distribution, samples, seed)
        return distribution.loc + distribution.scale * eps
    if isinstance(distribution, tfd.TransformedDistribution):
        return distribution.bijector.forward(
            reparameterized_sample(distribution.distribution, samples, seed))
    raise NotImplementedError(
        f"a {type(distribution).__name__} posterior has no location-scale form for "
        "reparameterized sampling; use a Gaussian posterior layer, or a "
        "TransformedDistribution over one (a flow)")


def _global_batch_noise(distribution, samples, seed):
    """Standard normal noise ``(samples, rows, *event)`` for this replica's rows."""
    loc = distribution.loc
    batch_and_event = tf.shape(loc)
    rows = batch_and_event[0]
    replica, replicas = 0, 1
    context = tf.distribute.get_replica_context()
    if context is not None:
        replica, replicas = context.replica_id_in_sync_group, context.num_replicas_in_sync
    shape = tf.concat([[samples, rows * replicas], batch_and_event[1:]], axis=0)
    eps = tf.random.stateless_normal(shape, seed=seed, dtype=loc.dtype)
    return eps[:, replica * rows:(replica + 1) * rows]
