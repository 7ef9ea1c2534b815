"""Priors p(z): Keras layers that return a ``tfd.Distribution``.

A prior is a layer so that it can own trainable variables (a mixture's weights, a
VampPrior's pseudo-inputs) that train with the model and are saved with it. The model asks
for the distribution afresh each time (``model.prior``), so after training it is the
trained prior, never a snapshot from build time. ``layer.distribution()`` returns it;
calling the layer on anything does the same, for use inside Keras graphs.
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

from zoo import compat, precision
from zoo.models.gaussians import DiagonalNormal

tfd = tfp.distributions


class Prior(tf_keras.layers.Layer):
    """Base class of the priors. A subclass::

        @tf_keras.utils.register_keras_serializable(package="my_models")
        class Laplace(Prior):
            def __init__(self, latent_dim, name="prior", **kwargs):
                super().__init__(latent_dim, name=name, **kwargs)   # sets latent_dim
                self.log_scale = self.add_weight(name="log_scale", shape=(latent_dim,),
                                                 initializer="zeros")  # trains with the model

            def distribution(self):  # asked afresh at every use: the trained values
                return tfd.Independent(tfd.Laplace(tf.zeros(self.latent_dim),
                                                   tf.exp(self.log_scale)), 1)

            def get_config(self):  # every constructor argument but latent_dim and name
                return super().get_config()

    takes ``latent_dim`` first and passes it on; creates its trainable variables in
    ``__init__`` with ``add_weight`` (they train and save with the model); returns a TFP
    distribution over codes of shape ``(latent_dim,)`` (event shape) from
    ``distribution()``; and adds its other constructor arguments to ``get_config()``. The
    KL against it is analytic where TFP registers one for the posterior's family and the
    prior's, else a Monte Carlo estimate. Build a model with it as ``VAE(encoder, decoder,
    Laplace(latent_dim))``."""

    def __init__(self, latent_dim, **kwargs):
        super().__init__(**precision.distribution_kwargs(kwargs))
        self.latent_dim = latent_dim

    def distribution(self):
        raise NotImplementedError

    def call(self, inputs=None):
        del inputs
        return self.distribution()

    def get_config(self):
        return {**super().get_config(), "latent_dim": self.latent_dim}


@tf_keras.utils.register_keras_serializable(package="zoo")
class StandardNormal(Prior):
    """``p(z) = N(0, I)`` as a ``MultivariateNormalDiag``: the KL against the zoo's
    Gaussian posteriors is analytic. No trainable variables."""

    def __init__(self, latent_dim, name="prior", **kwargs):
        super().__init__(latent_dim, name=name, **kwargs)

    def distribution(self):
        return DiagonalNormal(loc=tf.zeros(self.latent_dim), scale_diag=tf.ones(self.latent_dim))


@tf_keras.utils.register_keras_serializable(package="zoo")
class SphericalUniform(Prior):
    """``p(z)`` uniform on the unit sphere S^(latent_dim - 1) of R^latent_dim, TFP's
    ``tfd.SphericalUniform``: the hyperspherical VAE's prior (Davidson et al. 2018), its
    log-density minus the sphere's log-area. The KL against a von Mises-Fisher posterior
    is analytic (TFP registers it). No trainable variables."""

    def __init__(self, latent_dim, name="prior", **kwargs):
        super().__init__(latent_dim, name=name, **kwargs)

    def distribution(self):
        return tfd.SphericalUniform(dimension=self.latent_dim)


class DiagonalGaussianMixture(tfd.MixtureSameFamily):
    """TFP's ``MixtureSameFamily`` over ``MultivariateNormalDiag`` components (same
    constructor, same samples and moments) whose ``log_prob`` costs two matrix products.

    For component k with mean mu_k, scales s_k and weight pi_k, and p_k = s_k^-2::

        log p(z) = logsumexp_k [log pi_k - 1/2 q_k(z) - sum_d log s_kd - D/2 log 2 pi],
        q_k(z) = sum_d (z_d - mu_kd)^2 p_kd = z^2 . p_k - 2 z . (mu_k p_k) + mu_k^2 . p_k

    TFP's own ``log_prob`` broadcasts every z against every component, (N, K, D) values;
    here q is (N, D) x (D, K) products, in float64 so that the expansion loses nothing to
    cancellation (narrow components make its terms large). A VampPrior's K = 5000
    importance-sampled test log-likelihood is minutes instead of most of an hour. (TPUs
    have no float64: these priors need a CPU or GPU.)
    """

    def _log_prob(self, z):
        components = self.components_distribution
        loc = tf.cast(components.loc, tf.float64)                          # (K, D)
        scale = tf.cast(components.scale.diag, tf.float64)                 # (K, D)
        precision = scale ** -2
        flat = tf.reshape(tf.cast(z, tf.float64), [-1, tf.shape(loc)[-1]])  # (N, D)
        quadratic = (tf.matmul(flat ** 2, precision, transpose_b=True)
                     - 2 * tf.matmul(flat, loc * precision, transpose_b=True)
                     + tf.reduce_sum(loc ** 2 * precision, axis=-1))         # (N, K)
        log_normaliser = (tf.reduce_sum(tf.math.log(scale), axis=-1)
                          + 0.5 * tf.cast(tf.shape(loc)[-1], tf.float64) * math.log(2 * math.pi))
        log_weights = tf.cast(tf.math.log_softmax(self.mixture_distribution.logits_parameter()),
                              tf.float64)
        log_density = tf.reduce_logsumexp(log_weights - 0.5 * quadratic - log_normaliser,
                                          axis=-1)
        return tf.reshape(tf.cast(log_density, z.dtype), tf.shape(z)[:-1])


def mixture(logits, components):
    """The mixture of ``components`` (batch shape ``[K]``) with weights softmax(``logits``):
    a ``DiagonalGaussianMixture`` when they are ``MultivariateNormalDiag``, else TFP's
    ``MixtureSameFamily``."""
    kind = (DiagonalGaussianMixture if isinstance(components, tfd.MultivariateNormalDiag)
            and components.batch_shape.rank == 1 else tfd.MixtureSameFamily)
    return kind(mixture_distribution=tfd.Categorical(logits=logits),
                components_distribution=components)


@tf_keras.utils.register_keras_serializable(package="zoo")
class MixtureOfGaussians(Prior):
    """A learned mixture ``p(z) = sum_c pi_c N(z | mu_c, diag(sigma_c^2))`` over
    ``components`` diagonal Gaussians; ``pi = softmax(logits)``, ``sigma = softplus(.)``.

    Means start spread as N(0, I) draws, scales at 1, weights equal. No KL against it has
    a closed form: objectives estimate it by Monte Carlo.
    """

    def __init__(self, latent_dim, components=10, name="prior", **kwargs):
        super().__init__(latent_dim, name=name, **kwargs)
        self.components = components
        self.logits = self.add_weight(name="logits", shape=(components,),
                                      initializer="zeros")
        self.means = self.add_weight(name="means", shape=(components, latent_dim),
                                     initializer=tf_keras.initializers.RandomNormal())
        self.raw_scales = self.add_weight(  # softplus(0.5413) = 1
            name="raw_scales", shape=(components, latent_dim),
            initializer=tf_keras.initializers.Constant(0.5413))

    def distribution(self):
        return mixture(self.logits, DiagonalNormal(
            loc=self.means, scale_diag=tf.nn.softplus(self.raw_scales) + 1e-5))

    def get_config(self):
        return {**super().get_config(), "components": self.components}


class VampPrior(Prior):
    """The VampPrior (Tomczak & Welling 2018): the mixture of the model's own posteriors at
    ``components`` learned pseudo-inputs u_k,

        p(z) = (1/K) sum_k q(z | u_k),

    with ``u_k`` clipped to [0, 1] (the paper's hard-tanh) and initialised as
    N(0.05, 0.01) pixels, as in the paper's MNIST code. ``encoder`` is the model's encoder,
    shared, so the prior moves with it. No KL against it has a closed form: objectives
    estimate it by Monte Carlo.
    """

    def __init__(self, encoder, latent_dim, components=500, name="prior", **kwargs):
        super().__init__(latent_dim, name=name, **kwargs)
        self.encoder, self.components = encoder, components
        self.pseudo_inputs = self.add_weight(
            name="pseudo_inputs", shape=(components, *encoder.input_shape[1:]),
            initializer=tf_keras.initializers.RandomNormal(0.05, 0.01))

    def distribution(self):
        posteriors = self.encoder(tf.clip_by_value(self.pseudo_inputs, 0.0, 1.0))
        return mixture(tf.zeros(self.components),
                       compat.distribution_of(posteriors))

    def get_config(self):
        return {**super().get_config(), "components": self.components}


class PixelCNNCodes(tfd.Distribution):
    """p(z) over a VQ-VAE's codes (``posteriors.VectorQuantizer``): TFP's ``tfd.PixelCNN``
    over the (height, width) grid of codebook indices, each code its indices' codebook
    vectors, flattened. ``log_prob(z)`` is the PixelCNN's log-probability of the nearest
    indices to z (nats; z_q's own indices for the model's codes). ``sample(n, seed)`` draws
    the grid position by position in raster order, each from the network's conditional
    at the grid drawn so far, with stateless draws from ``seed`` (an int or a stateless
    pair: the same draws for the same seed; None draws a seed; TFP's own sampler draws
    statefully), and returns the indices' codebook vectors."""

    def __init__(self, pixel_cnn, quantizer, grid, name="PixelCNNCodes"):
        parameters = dict(locals())
        self.pixel_cnn, self.quantizer, self.grid = pixel_cnn, quantizer, tuple(grid)
        super().__init__(dtype=tf.float32, reparameterization_type=tfd.NOT_REPARAMETERIZED,
                         validate_args=False, allow_nan_stats=True, parameters=parameters,
                         name=name)

    @property
    def _size(self):
        return self.grid[0] * self.grid[1] * self.quantizer.code_size

    def _batch_shape(self):
        return tf.TensorShape([])

    def _batch_shape_tensor(self):
        return tf.constant([], tf.int32)

    def _event_shape(self):
        return tf.TensorShape([self._size])

    def _event_shape_tensor(self):
        return tf.constant([self._size], tf.int32)

    def _log_prob(self, z):
        indices = self.quantizer.nearest(z)                                  # (..., h * w)
        grids = tf.reshape(tf.cast(indices, self.dtype), [-1, *self.grid, 1])
        return tf.reshape(self.pixel_cnn.log_prob(grids), tf.shape(indices)[:-1])

    def _sample_n(self, n, seed=None):
        seed = tfp.random.sanitize_seed(seed)  # an int, a pair, or None (a random one)
        positions, high = self.grid[0] * self.grid[1], self.quantizer.codes - 1

        def position(index, grids):
            params = self.pixel_cnn.network(2.0 * grids / high - 1.0, training=False)
            # TFP's per-position mixture over the indices (what its log_prob uses)
            mixture = self.pixel_cnn._make_mixture_dist(*params).distribution  # noqa: SLF001
            drawn = mixture.sample(seed=tf.random.experimental.stateless_fold_in(seed, index))
            at = tf.one_hot(index, positions)[None, :, None]                  # (1, h*w, 1)
            flat = tf.reshape(grids, [n, positions, 1])
            flat = flat * (1 - at) + tf.reshape(drawn, [n, positions, 1]) * at
            return index + 1, tf.reshape(flat, [n, *self.grid, 1])

        _, grids = tf.while_loop(lambda index, _: index < positions, position,
                                 (0, tf.zeros([n, *self.grid, 1], self.dtype)))
        return self.quantizer.embedded(tf.reshape(tf.cast(grids, tf.int32), [n, positions]))


class PixelCNNCodeGrid(Prior):
    """A VQ-VAE's prior p(k) (van den Oord et al. 2017): TFP's ``tfd.PixelCNN`` (PixelCNN++,
    Salimans et al. 2017) over the ``grid`` of codebook indices of ``quantizer`` (the
    model's ``posteriors.VectorQuantizer``, shared), as a distribution over the codes
    (``PixelCNNCodes``). Each index is modelled as TFP's PixelCNN models a pixel: a
    discretized mixture of ``mixtures`` logistics over 0..codes-1, from gated residual
    layers of ``filters``, ``depth`` of them on each of its stacks' two passes (one
    resolution; no dropout, no weight normalisation, so draws are the model's own
    stateless noise). Its ``latent_dim`` is the codes' size: grid positions times the
    code size.

    TFP keeps the network autoregressive by kernel constraints, which an optimizer applies
    after each update: the masks are applied once here, so that the prior is a normalised
    distribution from the start (before any training step)."""

    def __init__(self, quantizer, grid, filters=64, depth=5, mixtures=5, name="prior",
                 **kwargs):
        super().__init__(grid[0] * grid[1] * quantizer.code_size, name=name, **kwargs)
        self.quantizer, self.grid = quantizer, tuple(grid)
        self.filters, self.depth, self.mixtures = filters, depth, mixtures
        with precision.policy(self.dtype_policy):  # its network: the layer's dtype
            pixel_cnn = tfd.PixelCNN(
                image_shape=(*self.grid, 1), num_resnet=depth, num_hierarchies=1,
                num_filters=filters, num_logistic_mix=mixtures, dropout_p=0.0,
                use_weight_norm=False, use_data_init=False, high=quantizer.codes - 1, low=0)
        object.__setattr__(self, "pixel_cnn", pixel_cnn)  # its network is tracked below
        self.network = pixel_cnn.network
        for layer in self.network.submodules:
            if getattr(layer, "kernel_constraint", None) is not None:
                layer.kernel.assign(layer.kernel_constraint(layer.kernel))

    def distribution(self):
        return PixelCNNCodes(self.pixel_cnn, self.quantizer, self.grid)

    def get_config(self):
        return {**super().get_config(), "grid": self.grid, "filters": self.filters,
                "depth": self.depth, "mixtures": self.mixtures}
