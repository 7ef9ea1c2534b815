"""Posterior layers q(z|x): TFP distribution layers that end an encoder network.

Each is a ``tfpl.DistributionLambda`` with static ``new(params, event_size)`` and
``params_size(event_size)``, as TFP's own layers: a ``Dense(params_size(d))`` before it
gives q(z|x). As a tensor the layer's output is the posterior's location, its mean (for a
flow, the base mean carried through the flow): what an exported encoder serves and the
pictures show, with no random op. The model draws codes through
``reparameterized_sample``, from noise it controls.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from zoo import compat, precision
from zoo.models import bijectors, replicas
from zoo.models.gaussians import DiagonalNormal, TriangularNormal

tfd, tfpl = tfp.distributions, tfp.layers

SCALE_FLOOR = 1e-5  # added to every softplus scale: q(z|x) never collapses to a point


class _Sized:
    """``num_params``: how many parameters the layer before a posterior layer must give."""

    @property
    def num_params(self):
        return self.params_size(self._event_size)


class _Made(_Sized, tfpl.DistributionLambda):
    """A posterior layer whose distribution its class's static ``new(params, event_size)``
    makes from ``params_size(event_size)`` parameters; as a tensor,
    ``convert_to_tensor_fn`` of it."""

    def __init__(self, event_size, convert_to_tensor_fn=tfd.Distribution.mean, **kwargs):
        kwargs.pop("make_distribution_fn", None)
        super().__init__(_Maker(type(self).new, event_size), convert_to_tensor_fn,
                         **precision.distribution_kwargs(kwargs))
        self._event_size = event_size

    def get_config(self):
        return {"event_size": self._event_size, "name": self.name, "dtype": self.dtype}


@tf_keras.utils.register_keras_serializable(package="zoo")
class MultivariateNormalDiag(_Made):
    """``q(z|x) = N(loc, diag(scale^2))`` over ``event_size`` dims: the diagonal sibling of
    ``tfpl.MultivariateNormalTriL``.

    Takes ``2 * event_size`` parameters: the location, then the scale through
    ``softplus(.) + 1e-5``. Unlike ``tfpl.IndependentNormal``, it has an analytic KL
    against a ``MultivariateNormalDiag`` prior.
    """

    @staticmethod
    def new(params, event_size):
        loc, scale = tf.split(params, [event_size, event_size], axis=-1)
        return DiagonalNormal(loc=loc, scale_diag=SCALE_FLOOR + tf.nn.softplus(scale))

    @staticmethod
    def params_size(event_size):
        return 2 * event_size


@tf_keras.utils.register_keras_serializable(package="zoo")
class MultivariateNormalTriL(_Sized, tfpl.MultivariateNormalTriL):
    """``tfpl.MultivariateNormalTriL`` (full covariance) whose training step also compiles
    with XLA.

    The same distribution as TFP's layer: ``scale_tril`` is ``fill_triangular(params)`` with
    ``softplus(.) + 1e-5`` on its diagonal. TFP builds it with ``tfb.FillScaleTriL``, whose
    gradient (through ``matrix_set_diag``) has a value-dependent shape that XLA rejects
    ("Reading input as constant from a dynamic tensor"); here the diagonal is selected with
    ``tf.where``, which compiles.
    """

    def __init__(self, event_size, convert_to_tensor_fn=tfd.Distribution.mean, **kwargs):
        kwargs.pop("make_distribution_fn", None)
        # TFP's __init__ hard-wires its own ``new``; set up the DistributionLambda directly.
        compat.init_distribution_lambda(self, _Maker(type(self).new, event_size),
                                        convert_to_tensor_fn,
                                        **precision.distribution_kwargs(kwargs))
        self._event_size = event_size

    @staticmethod
    def new(params, event_size, validate_args=False, name=None):
        with tf.name_scope(name or "MultivariateNormalTriL"):
            params = tf.convert_to_tensor(params, name="params")
            tril = tfp.math.fill_triangular(params[..., event_size:])
            diagonal = tf.eye(event_size, dtype=tf.bool)
            scale_tril = tf.where(diagonal, tf.nn.softplus(tril) + SCALE_FLOOR, tril)
            return TriangularNormal(loc=params[..., :event_size], scale_tril=scale_tril,
                                    validate_args=validate_args)

    def get_config(self):
        return {"event_size": self._event_size, "name": self.name, "dtype": self.dtype}


@tf_keras.utils.register_keras_serializable(package="zoo")
class PointMass(_Made):
    """The codes of a deterministic encoder, ``z = f(x)``, as a distribution layer: a point
    mass (``tfd.Deterministic``) at its ``event_size`` parameters, so that an autoencoder
    (AE, RAE, WAE) is assembled as every model here is and draws its codes the same way
    (``reparameterized_sample``: the location).

    On a continuous code space a point mass has no density (``density = False``): there is
    no KL to p(z), no ELBO and no importance-sampled log p(x). A model with this posterior
    trains on an objective without a bound (``objectives.Reconstruction``, ``RAE``,
    ``WAE``); ``zoo.evaluate`` reports its reconstruction and says why there is no log p(x).
    """

    density = False
    # what zoo.evaluate says of log p(x) for a model with this posterior
    likelihood_note = ("no log p(x): the codes are a point mass (z = f(x)), which has no "
                       "density on a continuous code space, so there is no KL, no ELBO and "
                       "no importance-sampled estimate; the reconstruction is -log p(x|z) "
                       "at the code")

    @staticmethod
    def new(params, event_size):
        del event_size
        return tfd.Independent(tfd.Deterministic(loc=params), 1)

    @staticmethod
    def params_size(event_size):
        return event_size


def mean_direction(distribution):
    """A von Mises-Fisher posterior's centre: its mean direction, on the sphere (its mean,
    A_d(kappa) mu, lies inside it)."""
    return distribution.mean_direction


@tf_keras.utils.register_keras_serializable(package="zoo")
class VonMisesFisher(_Made):
    """``q(z|x) = vMF(mu, kappa)`` on the unit sphere S^(d-1) of R^d, ``d = event_size``
    (Davidson et al. 2018), TFP's ``tfd.VonMisesFisher``::

        q(z|x) = C_d(kappa) exp(kappa mu.z),   |z| = |mu| = 1

    Takes ``d + 1`` parameters: the direction (normalised to |mu| = 1), then kappa through
    ``softplus(.) + 1`` (Davidson et al.'s). As a tensor: the mean direction mu. The model
    draws codes by ``reparameterized_sample`` (Wood's rejection sampler on the model's noise,
    ``von_mises_fisher_codes``); the KL against the uniform prior on the sphere is the one
    TFP registers, analytic.
    """

    def __init__(self, event_size, convert_to_tensor_fn=mean_direction, **kwargs):
        super().__init__(event_size, convert_to_tensor_fn, **kwargs)

    @staticmethod
    def new(params, event_size):
        direction, concentration = tf.split(params, [event_size, 1], axis=-1)
        return tfd.VonMisesFisher(tf.math.l2_normalize(direction, axis=-1),
                                  1.0 + tf.nn.softplus(concentration[..., 0]))

    @staticmethod
    def params_size(event_size):
        return event_size + 1


class _ConditionalFlow(tfpl.DistributionLambda):
    """Base of the flow posteriors: a diagonal Gaussian base N(mu, sigma^2) pushed through
    ``flows`` steps, each an invertible map of z conditioned on a context vector h(x), the
    dimensions reversed between steps::

        z_0 = mu + sigma * eps,   z_t = f_t(z_{t-1}; h),   t = 1..T
        log q(z_T|x) = log N(z_0 | mu, sigma^2) - sum_t log |det df_t/dz_{t-1}|

    Takes ``2 * event_size + context_size`` parameters: mu, sigma (softplus + 1e-5), then
    h. Every step starts as the identity (its network's output layer zeroed), so q(z|x)
    begins as the base Gaussian. A subclass makes a step's network (``_network``) and its
    bijector given the context (``_bijector``); ``permuted = False`` for steps that mix
    every dimension, with no reversal between them. The KL against any prior is Monte Carlo.
    """

    permuted = True

    def __init__(self, event_size, context_size, flows=2, hidden_units=(64, 64), **kwargs):
        for key in ("make_distribution_fn", "convert_to_tensor_fn"):
            kwargs.pop(key, None)
        super().__init__(self._distribution, flow_location, **precision.distribution_kwargs(kwargs))
        self._event_size, self._context_size = event_size, context_size
        self.flows, self.hidden_units = flows, tuple(hidden_units)
        with precision.policy(self.dtype_policy):  # the steps' networks: the layer's dtype
            self.steps = [self._network(index) for index in range(flows)]

    @staticmethod
    def params_size(event_size, context_size):
        return 2 * event_size + context_size

    @property
    def num_params(self):
        """How many parameters the layer before this one must give."""
        return self.params_size(self._event_size, self._context_size)

    def _distribution(self, params):
        size = self._event_size
        loc, scale, context = tf.split(params, [size, size, self._context_size], axis=-1)
        base = DiagonalNormal(loc=loc, scale_diag=SCALE_FLOOR + tf.nn.softplus(scale))
        bijectors = []
        for index, network in enumerate(self.steps):
            if index and self.permuted:
                bijectors.append(tfp.bijectors.Permute(list(reversed(range(size)))))
            bijectors.append(self._bijector(network, context))
        return tfd.TransformedDistribution(base, tfp.bijectors.Chain(bijectors[::-1]))

    def get_config(self):
        return {"event_size": self._event_size, "context_size": self._context_size,
                "flows": self.flows, "hidden_units": self.hidden_units, "name": self.name,
                "dtype": self.dtype}


class InverseAutoregressiveFlow(_ConditionalFlow):
    """q(z|x) through inverse autoregressive flow steps (Kingma et al. 2016)::

        z_t = z_{t-1} * exp(s_t) + m_t,   (m_t, s_t) = MADE_t(z_{t-1}, h)
        log |det df_t/dz_{t-1}| = sum_i s_t,i        (dz_t/dz_{t-1} is triangular)

    Each step is ``tfb.Invert(tfb.MaskedAutoregressiveFlow)`` over a conditional
    ``tfb.AutoregressiveNetwork`` (the sampling direction is the MADE's one parallel pass).
    See ``_ConditionalFlow`` for the base, the context and the parameters.
    """

    def _network(self, index):
        made = tfp.bijectors.AutoregressiveNetwork(
            params=2, event_shape=[self._event_size], hidden_units=list(self.hidden_units),
            conditional=True, conditional_event_shape=[self._context_size],
            activation="elu", name=f"made_{index}")
        made.build((None, self._event_size))  # variables now, not inside a traced step
        _zero_output_layer(made, self._event_size, self._context_size, self.hidden_units[-1])
        return made

    def _bijector(self, made, context):
        return tfp.bijectors.Invert(tfp.bijectors.MaskedAutoregressiveFlow(
            shift_and_log_scale_fn=_Conditioned(made, context)))


class RealNVPFlow(_ConditionalFlow):
    """q(z|x) through affine coupling steps, RealNVP (Dinh et al. 2017), conditioned on the
    context h(x): with z = (a, b), a the first ``event_size // 2`` dimensions::

        a' = a,   b' = b * exp(s(a, h)) + t(a, h),   log |det| = sum_i s_i

    ``(t, s)`` from an MLP of ``hidden_units`` (ELU) on [a, h]; each step is a
    ``tfb.RealNVP``; the dimensions reversed between steps, so every one is transformed.
    See ``_ConditionalFlow`` for the base, the context and the parameters.
    """

    def _network(self, index):
        masked = self._event_size // 2
        transformed = self._event_size - masked
        network = tf_keras.Sequential(
            [*[tf_keras.layers.Dense(units, activation="elu") for units in self.hidden_units],
             tf_keras.layers.Dense(2 * transformed, kernel_initializer="zeros")],
            name=f"coupling_{index}")
        network.build((None, masked + self._context_size))
        return network

    def _bijector(self, network, context):
        return tfp.bijectors.RealNVP(num_masked=self._event_size // 2,
                                     shift_and_log_scale_fn=_Coupled(network, context))


class _PerExampleFlow(_ConditionalFlow):
    """A flow whose steps' parameters are a linear map of the context (through
    ``hidden_units`` ELU layers first, if any): one flow per example. The map's kernel
    starts at zero and its bias at the step's identity (``_identity``), so q(z|x) begins
    as the base Gaussian; the dimensions are not reversed between steps."""

    permuted = False

    def __init__(self, event_size, context_size, flows=16, hidden_units=(), **kwargs):
        super().__init__(event_size, context_size, flows=flows, hidden_units=hidden_units,
                         **kwargs)

    def _network(self, index):
        network = tf_keras.Sequential(
            [*[tf_keras.layers.Dense(units, activation="elu") for units in self.hidden_units],
             tf_keras.layers.Dense(self._step_params, kernel_initializer="zeros",
                                   bias_initializer=self._identity)],
            name=f"{self._step_name}_{index}")
        network.build((None, self._context_size))
        return network


class PlanarFlow(_PerExampleFlow):
    """q(z|x) through ``flows`` planar steps (Rezende & Mohamed 2015), each a
    ``zoo.models.bijectors.Planar`` whose ``(u, w, b)`` are a map of the context h(x)::

        z_t = z_{t-1} + u_hat tanh(w.z_{t-1} + b),   log |det| = log(1 + tanh'(.) w.u_hat)

    Each step starts as the identity: w drawn N(0, 1/d), ``u = log(e - 1) w / |w|^2``
    (so ``u_hat = 0``), ``b = 0``. See ``_ConditionalFlow`` for the base and the parameters.
    """

    _step_name = "planar"

    @property
    def _step_params(self):
        return 2 * self._event_size + 1

    def _identity(self, shape, dtype=None):
        w = tf_keras.initializers.RandomNormal(stddev=self._event_size ** -0.5)(
            [self._event_size], dtype)
        u = bijectors.U_IDENTITY * w / tf.reduce_sum(tf.square(w))
        return tf.concat([u, w, tf.zeros([1], dtype)], 0)

    def _bijector(self, network, context):
        u, w, b = tf.split(network(context), [self._event_size, self._event_size, 1], -1)
        return bijectors.Planar(u, w, b[..., 0])


class RadialFlow(_PerExampleFlow):
    """q(z|x) through ``flows`` radial steps (Rezende & Mohamed 2015), each a
    ``zoo.models.bijectors.Radial`` whose ``(z0, a, b)`` are a map of the context h(x)::

        z_t = z_{t-1} + beta (z_{t-1} - z0) / (alpha + |z_{t-1} - z0|)

    Each step starts as the identity (``a = b = 0``: beta = 0) around ``z0 = 0``. See
    ``_ConditionalFlow`` for the base and the parameters.
    """

    _step_name, _identity = "radial", "zeros"

    @property
    def _step_params(self):
        return self._event_size + 2

    def _bijector(self, network, context):
        z0, a, b = tf.split(network(context), [self._event_size, 1, 1], -1)
        return bijectors.Radial(z0, a[..., 0], b[..., 0])


def quantized_codes(distribution):
    """A VQ-VAE posterior's codes z_q as a tensor: its codebook vectors themselves (the
    point mass's location, z_e + sg[z_q - z_e], may differ from them by rounding)."""
    return distribution.quantized


@tf_keras.utils.register_keras_serializable(package="zoo")
class VectorQuantizer(tfpl.DistributionLambda):
    """q(k|x) of a VQ-VAE (van den Oord et al. 2017): the encoder's output z_e, read as
    ``positions`` vectors of ``code_size``, each snapped to the nearest of ``codes``
    codebook vectors e_j (squared Euclidean distance)::

        k_i = argmin_j |z_e,i - e_j|^2,   z_q,i = e_(k_i)

    A point mass: the distribution is ``tfd.Deterministic`` at ``z_e + sg[z_q - z_e]``,
    whose value is z_q and whose gradient is z_e's (the straight-through estimator: the
    decoder's gradient at z_q reaches the encoder as it is); its log-density at its own
    codes is 0 (q(k|x) = 1), so the ELBO is ``log p(x|z_q) + log p(k)``, nats. The
    distribution also carries ``unquantized`` (z_e) and ``quantized`` (z_q) for the
    codebook and commitment terms (``objectives.VectorQuantization``). The codebook, a
    weight of this layer, starts uniform in +-1/codes and trains by its loss term (no
    moving averages). As a tensor, the layer's output is z_q (``quantized_codes``)."""

    # what zoo.evaluate says of the importance-sampled log p(x) with this posterior
    likelihood_note = ("q(z|x) is a point mass, so every importance sample is the same "
                       "code: log p(x) here is the bound log p(x|z_q) + log p(z_q), the ELBO")

    def __init__(self, codes, code_size, convert_to_tensor_fn=quantized_codes, **kwargs):
        kwargs.pop("make_distribution_fn", None)
        super().__init__(self._quantized, convert_to_tensor_fn,
                         **precision.distribution_kwargs(kwargs))
        self.codes, self.code_size = codes, code_size
        self.codebook = self.add_weight(
            name="codebook", shape=(codes, code_size),
            initializer=tf_keras.initializers.RandomUniform(-1 / codes, 1 / codes))

    def nearest(self, z):
        """The index of the nearest codebook vector to each ``code_size`` chunk of ``z``
        (..., positions * code_size): int32 (..., positions)."""
        chunks = tf.reshape(z, [-1, self.code_size])
        distances = (tf.reduce_sum(chunks ** 2, -1, keepdims=True)
                     - 2 * tf.matmul(chunks, self.codebook, transpose_b=True)
                     + tf.reduce_sum(self.codebook ** 2, -1))
        return tf.reshape(tf.argmin(distances, -1, output_type=tf.int32),
                          tf.concat([tf.shape(z)[:-1], [-1]], 0))

    def embedded(self, indices):
        """The codes (..., positions * code_size) of codebook ``indices`` (..., positions)."""
        # a gather, exact on every device (a one-hot product would round the vectors where
        # matrix products run in TensorFloat-32, as on recent GPUs)
        vectors = tf.gather(self.codebook, indices)
        return tf.reshape(vectors, tf.concat([tf.shape(indices)[:-1], [-1]], 0))

    def _quantized(self, unquantized):
        quantized = self.embedded(self.nearest(unquantized))
        distribution = tfd.Independent(tfd.Deterministic(
            unquantized + tf.stop_gradient(quantized - unquantized)), 1)
        distribution.unquantized, distribution.quantized = unquantized, quantized
        return distribution

    def get_config(self):
        return {"codes": self.codes, "code_size": self.code_size, "name": self.name,
                "dtype": self.dtype}


def flow_location(distribution):
    """The base distribution's mean carried through the flow: a flow posterior's centre
    (its mean has no closed form)."""
    return distribution.bijector.forward(distribution.distribution.mean())


def _zero_output_layer(made, event_size, context_size, hidden_size):
    """Zeroes the MADE's output layer, so that every flow step starts as the identity:
    q(z|x) begins as the base Gaussian (its KL as a diagonal posterior's), instead of tens of
    nats away, and the flow learns from there. (Kingma et al. 2016 initialise their IAF
    steps near the identity too.) The output layer's weights are the MADE's last three:
    masked kernel, bias and the context's kernel (``conditional_input_layers="all_layers"``).
    """
    kernel, bias, context_kernel = made.trainable_weights[-3:]
    expected = [(hidden_size, 2 * event_size), (2 * event_size,), (context_size, 2 * event_size)]
    if [tuple(w.shape) for w in (kernel, bias, context_kernel)] != expected:
        raise RuntimeError("TFP's AutoregressiveNetwork no longer ends in the layers the zoo "
                           "expects; zoo.models.posteriors._zero_output_layer needs updating")
    for weight in (kernel, bias, context_kernel):
        weight.assign(tf.zeros_like(weight))


def _broadcast_context(context, z):
    """The context h, broadcast to z's sample dimensions."""
    return tf.broadcast_to(context, tf.concat([tf.shape(z)[:-1], tf.shape(context)[-1:]], 0))


class _Coupled:
    """A coupling network's ``(shift, log_scale)`` for the transformed part of z, given the
    passed-through part ``a`` and the context ``h``."""

    def __init__(self, network, context):
        self.network, self.context = network, context

    def __call__(self, a, output_units):
        shift, log_scale = tf.split(self.network(tf.concat(
            [a, _broadcast_context(self.context, a)], axis=-1)), 2, axis=-1)
        return shift, log_scale


class _Conditioned:
    """A MADE's ``(shift, log_scale)`` of ``z`` given the context ``h`` (broadcast to z's
    sample dimensions)."""

    def __init__(self, made, context):
        self.made, self.context = made, context

    def __call__(self, z):
        shift, log_scale = tf.unstack(self.made(z, conditional_input=_broadcast_context(
            self.context, z)), axis=-1)
        return shift, log_scale


class _Maker:
    """``params -> new(params, event_size)``: a named callable rather than a closure."""

    def __init__(self, new, event_size):
        self.new, self.event_size = new, event_size

    def __call__(self, params):
        return self.new(params, self.event_size)


def reparameterized_sample(posterior, samples, seed, groups=1):
    """``samples`` codes per example, shape ``(samples, batch, *event)``: ``z = f(eps)``.

    ``eps ~ N(0, I)`` is one stateless draw (``seed``, shape [2]) over the rows of the
    *global* batch, of which each replica takes its own rows; so the codes of an example
    do not depend on how many replicas share the batch. ``f`` is the location-scale map of
    a Gaussian (``loc + scale @ eps``), composed with the bijector of a
    ``TransformedDistribution`` (a flow posterior); a von Mises-Fisher posterior's codes
    are ``von_mises_fisher_codes``; a point mass's (``PointMass``, ``VectorQuantizer``),
    its location.
    ``groups``: the posterior's batch is that many blocks of the replica's rows, one after
    the other (a lower layer's posterior given each of ``groups`` samples of the layer
    above, in a hierarchical model).
    """
    distribution = compat.distribution_of(posterior)
    if isinstance(distribution, tfd.Independent):
        distribution = distribution.distribution
    if isinstance(distribution, tfd.MultivariateNormalLinearOperator):  # before flows: TFP
        eps = _global_batch_noise(distribution, samples, seed, groups)  # makes it one
        return distribution.loc + distribution.scale.matvec(eps)
    if isinstance(distribution, tfd.Normal):
        eps = _global_batch_noise(distribution, samples, seed, groups)
        return distribution.loc + distribution.scale * eps
    if _is_flow(distribution):
        return distribution.bijector.forward(
            reparameterized_sample(distribution.distribution, samples, seed, groups))
    if isinstance(distribution, tfd.VonMisesFisher):
        return von_mises_fisher_codes(distribution, samples, seed, groups)
    if isinstance(distribution, tfd.Deterministic):  # a point mass: its codes, S times
        return tf.broadcast_to(distribution.loc, tf.concat(
            [[samples], tf.shape(distribution.loc)], 0))
    raise NotImplementedError(
        f"a {type(distribution).__name__} posterior has no reparameterized sampler here; "
        "use a Gaussian posterior layer, a TransformedDistribution over one (a flow), "
        "a von Mises-Fisher one or a point mass (PointMass, VectorQuantizer)")


def _is_flow(distribution):
    """A TransformedDistribution (TFP makes one of a private class when its bijector is not
    a composite tensor, so ``isinstance`` alone misses it)."""
    return isinstance(distribution, tfd.Distribution) and hasattr(distribution, "bijector")


def held_fixed(posterior):
    """The same posterior with its parameters' gradients stopped: log q(z|x) of it still
    depends on z, not on the encoder's weights. For the location-scale posteriors."""
    distribution = compat.distribution_of(posterior)
    if isinstance(distribution, tfd.Independent):
        return distribution.copy(distribution=held_fixed(distribution.distribution))
    if not isinstance(distribution, (tfd.MultivariateNormalLinearOperator, tfd.Normal)):
        raise NotImplementedError(
            f"a {type(distribution).__name__} posterior cannot hold its parameters fixed "
            "(a flow's parameters are its networks' weights); use gradient = \"iwae\"")
    return distribution.copy(**{name: tf.nest.map_structure(tf.stop_gradient, value)
                                for name, value in distribution.parameters.items()
                                if tf.is_tensor(value)})


def _global_batch_noise(distribution, samples, seed, groups=1):
    """Standard normal noise ``(samples, rows, *event)`` for this replica's rows (in
    ``groups`` blocks)."""
    loc = distribution.loc
    return _global_rows(lambda shape: tf.random.stateless_normal(shape, seed, dtype=loc.dtype),
                        tf.shape(loc), samples, groups)


def _global_rows(draw, rows_and_tail, samples, groups=1):
    """This replica's rows of ``draw(shape)`` over the global batch: shape ``(samples,
    rows, *tail)`` for ``rows_and_tail = [rows, *tail]`` (rows in ``groups`` blocks)."""
    rows = rows_and_tail[0] // groups
    first, total = replicas.row_span(rows)
    noise = draw(tf.concat([[samples, groups, total], rows_and_tail[1:]], axis=0))
    return tf.reshape(noise[:, :, first:first + rows],
                      tf.concat([[samples, groups * rows], rows_and_tail[1:]], axis=0))


# Wood's proposals per code: each is accepted with probability over 0.6 at any kappa and
# d (Wood 1994), so all 24 fail less than once in 10^9 codes; then the last is taken.
VMF_PROPOSALS = 24
# Gauss-Legendre nodes of the integral in a code's implicit gradient (von_mises_fisher_w)
VMF_NODES = 96


def von_mises_fisher_codes(distribution, samples, seed, groups=1):
    """``samples`` codes per example from a ``tfd.VonMisesFisher`` (d >= 2), shape
    ``(samples, batch, d)``, drawn from the global batch's noise (see
    ``reparameterized_sample``) by Wood's (1994) rejection sampler, as TFP's own: with
    m = d - 1, ``b = m / (2 kappa + sqrt(4 kappa^2 + m^2))``, ``x0 = (1 - b) / (1 + b)``,
    ``c = kappa x0 + m log(1 - x0^2)``, proposals of the code's cosine to mu::

        w = (1 - (1 + b) e) / (1 - (1 - b) e),   e ~ Beta(m/2, m/2)
        accepted if kappa w + m log(1 - x0 w) - c >= log u,   u ~ U(0, 1)

    the first accepted of ``VMF_PROPOSALS`` taken; then ``z' = (w, sqrt(1 - w^2) v)`` with
    v uniform on S^(d-2), reflected onto mu (the Householder reflection of e_1 to mu).
    Gradients reach mu through the reflection, and kappa through w's implicit gradient
    (``von_mises_fisher_w``): exact, where the rejection sampler's own path would miss
    Naesseth et al.'s (2017) correction term."""
    mu = distribution.mean_direction
    kappa = tf.broadcast_to(distribution.concentration, tf.shape(mu)[:-1])  # one per row
    rows, d = tf.shape(mu)[0], tf.shape(mu)[-1]
    m = tf.cast(d - 1, mu.dtype)

    def noise(stream, tail, draw):
        key = tf.random.experimental.stateless_fold_in(seed, stream)
        return _global_rows(lambda shape: draw(shape, key), tf.concat([[rows], tail], 0),
                            samples, groups)

    def beta_half(shape, key):  # Beta(m/2, m/2) as G1 / (G1 + G2), gammas of m/2
        g1, g2 = (tf.random.stateless_gamma(
            shape, tf.random.experimental.stateless_fold_in(key, k), alpha=m / 2,
            dtype=mu.dtype) for k in (0, 1))
        return g1 / (g1 + g2)

    e = noise(0, [VMF_PROPOSALS], beta_half)                        # (S, batch, P)
    u = noise(1, [VMF_PROPOSALS], lambda shape, key: tf.random.stateless_uniform(
        shape, key, dtype=mu.dtype))
    v = tf.math.l2_normalize(noise(2, [d - 1], lambda shape, key: tf.random.stateless_normal(
        shape, key, dtype=mu.dtype)), axis=-1)                      # (S, batch, d - 1)
    fixed = tf.stop_gradient(kappa)[..., None]                      # (batch, 1)
    b = m / (2 * fixed + tf.sqrt(4 * tf.square(fixed) + tf.square(m)))
    x0 = (1 - b) / (1 + b)
    c = fixed * x0 + m * tf.math.log1p(-tf.square(x0))
    proposals = (1 - (1 + b) * e) / (1 - (1 - b) * e)
    accepted = (fixed * proposals + m * tf.math.log1p(-x0 * proposals) - c
                >= tf.math.log1p(-u))                               # TFP's test, u -> 1 - u
    index = tf.where(tf.reduce_any(accepted, -1), tf.argmax(tf.cast(accepted, tf.int32), -1),
                     VMF_PROPOSALS - 1)
    w = von_mises_fisher_w(tf.gather(proposals, index, batch_dims=2), kappa, d)  # (S, batch)
    # sqrt(1 - w^2), its gradient finite at w = +-1 (Beta(1/2, 1/2) draws 0 and 1 in d = 2)
    sine = tf.sqrt(tf.maximum(1 - tf.square(w), 1e-12))
    z = tf.concat([w[..., None], sine[..., None] * v], axis=-1)
    e1 = tf.one_hot(0, d, dtype=mu.dtype)
    reflection = tf.math.l2_normalize(e1 - mu, axis=-1)             # 0 where mu = e_1
    return z - 2 * tf.reduce_sum(z * reflection, -1, keepdims=True) * reflection


@tf.custom_gradient
def von_mises_fisher_w(w, kappa, d):
    """``w`` (samples, batch), cosines to mu drawn at concentrations ``kappa`` (batch), on
    S^(d-1), with their implicit reparameterisation gradient (Figurnov et al. 2018): w's
    density is ``q(t) ~ exp(kappa t) (1 - t^2)^((d-3)/2)`` on [-1, 1], and holding its CDF
    F(w; kappa) fixed::

        dw/dkappa = -dF/dkappa / q(w) = -int_{-1}^{w} (t - A) exp(kappa (t - w))
                                          ((1 - t^2) / (1 - w^2))^((d-3)/2) dt

    with ``A = E[t] = I_{d/2}(kappa) / I_{d/2-1}(kappa)``; the integral by
    ``VMF_NODES``-point Gauss-Legendre in float64 over [a, w], ``a = max(-1, min(w, t*) -
    (40 + 2p) / kappa)`` with p = (d - 3)/2 and t* = 1 - p/kappa the density's peak (below
    a, exp(kappa t) (1 - t^2)^p has fallen by about e^-40 from it), in s where
    t = a + (w - a) s^2 (so d = 2's endpoint singularity at -1 is integrable; w kept 1e-12
    inside +-1). Checked against the derivative of TFP's closed-form mean for d = 2 to 64.
    Computed only when a gradient is taken."""

    def gradient(upstream):
        nodes, weights = np.polynomial.legendre.leggauss(VMF_NODES)
        s = tf.constant((nodes + 1) / 2, tf.float64)                  # on [0, 1]
        ds = tf.constant(weights / 2, tf.float64)
        k64 = tf.cast(kappa, tf.float64)[..., None]
        w64 = tf.clip_by_value(tf.cast(w, tf.float64)[..., None], -1 + 1e-12, 1 - 1e-12)
        half = tf.cast(d, tf.float64) / 2
        mean = tfp.math.bessel_iv_ratio(half, k64)                   # I_{d/2} / I_{d/2-1}
        power_of = half - 1.5
        mode = tf.minimum(w64, 1 - tf.maximum(power_of, 0.0) / k64)      # q's peak, if below w
        low = tf.maximum(mode - (40.0 + 2 * tf.maximum(power_of, 0.0)) / k64, -1.0)
        step = (w64 - low) * tf.square(s)
        t = low + step                                                # (S, batch, nodes)
        dt = 2 * (w64 - low) * s * ds
        # 1 - t^2 as (1 - t)(1 + t), each from the interval's ends: exact near -1
        power = tf.math.xlogy(power_of, ((1 - low) - step) * ((1 + low) + step)
                              / ((1 - w64) * (1 + w64)))
        integral = tf.reduce_sum((t - mean) * tf.exp(k64 * (t - w64) + power) * dt, -1)
        dw_dkappa = tf.cast(-integral, w.dtype)
        return None, tf.reduce_sum(upstream * dw_dkappa, axis=0), None

    return tf.identity(w), gradient
