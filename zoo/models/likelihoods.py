"""Likelihood heads p(x|z): TFP distribution layers that end a decoder network, and the
per-sample log-likelihood every objective and ``zoo.evaluate`` use.

Each head takes a flat vector of parameters, ``num_params = prod(image_shape) *
params_per_pixel`` (a conv decoder ends in ``channels * params_per_pixel`` feature maps),
and gives ``Independent`` over the image. Its ``data`` says which images it models (the
checks in ``zoo.checks`` hold the data to it):

=====================  =================================  ========  ==================
head                   p(x_i | z)                         data      per pixel
=====================  =================================  ========  ==================
bernoulli              Bernoulli(sigmoid(l_i))            binary    {0, 1}
continuous_bernoulli   ContinuousBernoulli(sigmoid(l_i))  unit      [0, 1]
gaussian               N(mu_i, sigma_i^2), learned sigma  real      any real
logistic_mixture       K discretized logistics            8bit      {0, 1/255, ..., 1}
=====================  =================================  ========  ==================

All log-likelihoods are in nats per image; the logistic mixture's is a probability mass
(its bits per dimension are ``-log p / (D ln 2)``), the continuous heads' densities.
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from zoo import compat, precision
from zoo.errors import ConfigError, did_you_mean
from zoo.models.registry import one_of

tfd, tfpl = tfp.distributions, tfp.layers

LIKELIHOODS = ("bernoulli", "continuous_bernoulli", "gaussian", "logistic_mixture")
Likelihood = one_of(*LIKELIHOODS)  # a builder's ``likelihood`` override
LOGISTIC_COMPONENTS = 10  # the logistic mixture's, per pixel (PixelCNN++ uses 10)
SCALE_FLOOR = 1e-3  # of the Gaussian head's sigma: a density on [0, 1] data stays bounded


@tf_keras.utils.register_keras_serializable(package="zoo")
class IndependentBernoulli(tfpl.IndependentBernoulli):
    """Logits -> ``p(x|z) = prod_i Bernoulli(x_i | sigmoid(logits_i))`` over an event of
    ``event_shape``: ``tfpl.IndependentBernoulli`` whose tensor is the mean (the pixel
    probabilities) and whose config is its event shape (TFP's holds a lambda, which Keras
    warns of when saving and cannot rebuild)."""

    params_per_pixel, data = 1, "binary"

    def __init__(self, event_shape, **kwargs):
        kwargs.pop("convert_to_tensor_fn", None)
        super().__init__(event_shape, convert_to_tensor_fn=tfd.Distribution.mean,
                         **precision.distribution_kwargs(kwargs))
        self._event_shape_config = [int(size) for size in event_shape]

    @property
    def num_params(self):
        return math.prod(self._event_shape_config)

    def get_config(self):
        return {"event_shape": self._event_shape_config, "name": self.name,
                "dtype": self.dtype}


class _Head(tfpl.DistributionLambda):
    """Base of the other heads: flat parameters, reshaped to ``image_shape +
    (params_per_pixel,)``, -> ``Independent(pixel_distribution(params))`` over the image.
    Its tensor is ``location`` (the mean, unless a subclass says otherwise)."""

    params_per_pixel, data = 1, "unit"

    def __init__(self, image_shape, **kwargs):
        for key in ("make_distribution_fn", "convert_to_tensor_fn"):
            kwargs.pop(key, None)
        super().__init__(self._distribution, type(self).location,
                         **precision.distribution_kwargs(kwargs))
        self.image_shape = tuple(int(size) for size in image_shape)

    @property
    def num_params(self):
        return math.prod(self.image_shape) * self.params_per_pixel

    def _distribution(self, params):
        shape = tf.concat([tf.shape(params)[:-1], self.image_shape,
                           [self.params_per_pixel]], 0)
        return tfd.Independent(self.pixel_distribution(tf.reshape(params, shape)),
                               reinterpreted_batch_ndims=len(self.image_shape))

    def pixel_distribution(self, params):
        raise NotImplementedError

    @staticmethod
    def location(distribution):
        return distribution.mean()

    def get_config(self):
        return {"image_shape": list(self.image_shape), "name": self.name, "dtype": self.dtype}


@tf_keras.utils.register_keras_serializable(package="zoo")
class IndependentContinuousBernoulli(_Head):
    """``p(x_i|z) = ContinuousBernoulli(x_i | lambda_i = sigmoid(l_i))`` for grey values in
    [0, 1] (Loaiza-Ganem & Cunningham 2019): the Bernoulli's form with its normaliser
    ``C(lambda) = 2 artanh(1 - 2 lambda) / (1 - 2 lambda)``, so a proper density on [0, 1]."""

    def pixel_distribution(self, params):
        return tfd.ContinuousBernoulli(logits=params[..., 0])


@tf_keras.utils.register_keras_serializable(package="zoo")
class IndependentNormal(_Head):
    """``p(x_i|z) = N(x_i | mu_i, sigma_i^2)``, ``sigma_i = softplus(.) + 1e-3``: both from
    the decoder, per pixel, for real-valued data (the floor keeps a density bounded on data
    of finitely many values)."""

    params_per_pixel, data = 2, "real"

    def pixel_distribution(self, params):
        return tfd.Normal(loc=params[..., 0],
                          scale=SCALE_FLOOR + tf.nn.softplus(params[..., 1]))


@tf_keras.utils.register_keras_serializable(package="zoo")
class LogisticMixture(_Head):
    """``p(x_i|z)``: ``components`` logistics discretized to 8-bit pixels
    (``DiscretizedLogisticMixture``), each pixel and channel its own mixture (no coupling
    across channels, unlike PixelCNN++'s). As a tensor: the mixture's location (the means of
    its logistics, clipped and weighted), cheap; ``.mean()`` is the exact mean."""

    data = "8bit"

    def __init__(self, image_shape, components=10, **kwargs):
        self.components = components
        self.params_per_pixel = 3 * components
        super().__init__(image_shape, **kwargs)

    def pixel_distribution(self, params):
        logits, locs, raw_scales = tf.split(params, 3, axis=-1)
        return DiscretizedLogisticMixture(logits, tf.tanh(locs),
                                          tf.nn.softplus(raw_scales) + 1e-3)

    @staticmethod
    def location(distribution):
        return distribution.distribution.location()

    def get_config(self):
        return {**super().get_config(), "components": self.components}


class DiscretizedLogisticMixture(tfd.Distribution):
    """A mixture of logistics discretized to the 256 levels of an 8-bit pixel (Salimans et
    al. 2017, PixelCNN++), over ``x`` in {0, 1/255, ..., 1}; one scalar per batch member.

    With ``y = 2x - 1``, half a bin ``h = 1/255`` and component k's location ``mu_k`` (in
    [-1, 1]) and scale ``s_k``, ``F_k(t) = sigmoid((t - mu_k) / s_k)``::

        P_k(x) = F_k(y + h) - F_k(y - h),   P_k(0) = F_k(-1 + h),   P_k(1) = 1 - F_k(1 - h)
        p(x)   = sum_k pi_k P_k(x),         pi = softmax(logits)

    The 256 masses telescope to 1. An inner bin's log-mass is taken in the form that never
    subtracts two probabilities (with ``sigmoid(u) - sigmoid(l) = sigmoid(u) (1 -
    sigmoid(l)) (1 - exp(l - u))`` and ``l - u = -2h / s_k``)::

        log P_k(x) = log F_k(y + h) + log(1 - F_k(y - h)) + log(-expm1(-2h / s_k))

    exact in the tails where the difference of sigmoids rounds to 0 (PixelCNN++ replaces
    those masses by the density at the bin's centre times 2h, off by up to several nats
    there) and cheaper: two softplus and one expm1 per component and pixel. ``logits``,
    ``locs`` and ``scales`` have the component axis last.
    """

    def __init__(self, logits, locs, scales, validate_args=False, allow_nan_stats=True,
                 name="DiscretizedLogisticMixture"):
        parameters = dict(locals())
        with tf.name_scope(name):
            self.logits = tf.convert_to_tensor(logits)
            self.locs = tf.convert_to_tensor(locs, self.logits.dtype)
            self.scales = tf.convert_to_tensor(scales, self.logits.dtype)
        super().__init__(dtype=self.logits.dtype,
                         reparameterization_type=tfd.NOT_REPARAMETERIZED,
                         validate_args=validate_args, allow_nan_stats=allow_nan_stats,
                         parameters=parameters, name=name)

    @classmethod
    def _parameter_properties(cls, dtype, num_classes=None):
        properties = tfp.util.ParameterProperties
        return {"logits": properties(event_ndims=1), "locs": properties(event_ndims=1),
                "scales": properties(event_ndims=1)}

    def _event_shape(self):
        return tf.TensorShape([])

    def _event_shape_tensor(self):
        return tf.constant([], tf.int32)

    def _log_prob(self, x):
        half_bin = 1.0 / 255
        y = (2.0 * x - 1.0)[..., None]
        inverse_scale = tf.math.reciprocal(self.scales)
        centred = y - self.locs
        log_cdf_upper = -tf.nn.softplus(-(centred + half_bin) * inverse_scale)  # log F(y+h)
        log_survival_lower = -tf.nn.softplus((centred - half_bin) * inverse_scale)
        log_bin_factor = tf.math.log(-tf.math.expm1(-2.0 * half_bin * inverse_scale))
        log_mass = tf.where(y > 0.999, log_survival_lower,          # P(1) = 1 - F(1 - h)
                            tf.where(y < -0.999, log_cdf_upper,         # P(0) = F(-1 + h)
                                     log_cdf_upper + log_survival_lower + log_bin_factor))
        return tf.reduce_logsumexp(log_mass + tf.nn.log_softmax(self.logits), axis=-1)

    def _cdf_at(self, t):
        """``sum_k pi_k F_k(t)`` for ``t`` in y units."""
        return tf.reduce_sum(tf.nn.softmax(self.logits) * tf.sigmoid(
            (t - self.locs) / self.scales), axis=-1)

    def _mean(self):
        # E[x] = (1/255) sum_{v=1}^{255} P(level >= v), level v starting at y = 2(v-1/2)/255-1
        edges = (2.0 * (tf.range(1, 256, dtype=self.dtype) - 0.5) / 255) - 1.0
        shape = tf.shape(self.logits)[:-1]
        return tf.foldl(lambda total, edge: total + (1.0 - self._cdf_at(edge)) / 255, edges,
                        initializer=tf.zeros(shape, self.dtype))

    def location(self):
        """``sum_k pi_k mu_k`` mapped to [0, 1]: where the mixture sits (not its mean)."""
        return (tf.reduce_sum(tf.nn.softmax(self.logits) * self.locs, axis=-1) + 1.0) / 2

    def _sample_n(self, n, seed=None):
        component_seed, noise_seed = tfp.random.split_seed(seed)
        component = tfd.Categorical(logits=self.logits).sample(n, seed=component_seed)
        pick = tf.one_hot(component, tf.shape(self.logits)[-1], dtype=self.dtype)
        loc = tf.reduce_sum(pick * self.locs, axis=-1)
        scale = tf.reduce_sum(pick * self.scales, axis=-1)
        uniform = tf.random.stateless_uniform(tf.shape(loc), noise_seed, 1e-5, 1.0 - 1e-5,
                                              dtype=self.dtype)
        y = tf.clip_by_value(loc + scale * (tf.math.log(uniform) - tf.math.log1p(-uniform)),
                             -1.0, 1.0)
        return tf.round((y + 1.0) / 2 * 255) / 255


def head(likelihood, image_shape, components=LOGISTIC_COMPONENTS):
    """The head called ``likelihood`` (one of LIKELIHOODS) over images of ``image_shape``;
    ``components`` for the logistic mixture."""
    if likelihood == "bernoulli":
        return IndependentBernoulli(image_shape, name="p_x_given_z")
    if likelihood == "logistic_mixture":
        return LogisticMixture(image_shape, components, name="p_x_given_z")
    heads = {"continuous_bernoulli": IndependentContinuousBernoulli,
             "gaussian": IndependentNormal}
    if likelihood not in heads:
        hint = did_you_mean(likelihood, LIKELIHOODS)
        raise ConfigError(f"unknown likelihood {likelihood!r}; {hint}the likelihoods: "
                          f"{', '.join(LIKELIHOODS)}")
    return heads[likelihood](image_shape, name="p_x_given_z")


def head_of(decoder):
    """The zoo likelihood head inside ``decoder`` (a Keras model), or None."""
    return next((layer for layer in decoder.submodules
                 if hasattr(layer, "params_per_pixel")), None)


def log_likelihood(rv_x, x, samples=1):
    """``log p(x|z_s)`` in nats, shape ``(samples, batch)``.

    ``rv_x`` is the decoder's output for ``samples * batch`` codes, sample-major (the codes
    of ``z`` with shape (samples, batch, latent) flattened); ``x`` is the batch of images,
    broadcast against each sample rather than tiled.

    For ``Independent(Bernoulli(logits))`` (the Bernoulli head) it is summed from the
    stable cross-entropy ``max(l, 0) - x l + log(1 + exp(-|l|))``, the value of
    ``rv_x.log_prob(x)`` at less elementwise work (TFP evaluates two softplus terms and
    masks them). Any other distribution takes ``log_prob`` of x repeated once per sample,
    reshaped to (samples, batch) (TFP's BatchReshape fails on a batch of unknown size).
    """
    distribution = compat.distribution_of(rv_x)
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
    rows = tf.tile(tf.cast(x, distribution.dtype),  # (float64 arrays: NumPy's x / 255)
                   tf.concat([[samples], tf.ones([tf.rank(x) - 1], tf.int32)], 0))
    return tf.reshape(distribution.log_prob(rows), tf.stack([samples, batch]))
