"""Hierarchical VAEs with two stochastic layers (Tomczak & Welling 2018, "HVAE").

Generative model (top-down) and inference model::

    p(x, z1, z2) = p(z2) p(z1|z2) p(x|z1, z2),     q(z1, z2|x) = q(z2|x) q(z1|x, z2)

all conditionals diagonal Gaussians (p(x|.): the ``likelihood`` head, Bernoulli by
default), each from a gated MLP. The per-sample log-weights and the KL sum over the layers::

    log w = log p(x|z1,z2) + log p(z1|z2) + log p(z2) - log q(z1|x,z2) - log q(z2|x)
    KL    = KL(q(z2|x) || p(z2)) + E_q(z2|x) KL(q(z1|x,z2) || p(z1|z2))

(each KL analytic where TFP has one, else Monte Carlo). ``hvae`` has p(z2) = N(0, I);
``hvae_vamp`` the VampPrior on the top layer, p(z2) = (1/K) sum_k q(z2|u_k) (the paper's
best MNIST model). ``model.encoder`` is q(z2|x), the top layer: ``zoo plot latent`` and
``traverse`` show z2. ``model.decoder`` maps z2 to p(x|z1, z2) at the mean of p(z1|z2).
Defaults: the paper's MNIST setting, 40 + 40 latent dimensions, gated layers of 300.
``conv_hvae_vamp`` (the paper's convHVAE with the VampPrior) reads x in q(z2|x) and
q(z1|x, z2) with gated strided convolutions of ``filters`` and makes p(x|z1, z2) with
gated transposed ones (``networks.GatedConv2D``, the zoo's conv stacks), the layers of
codes as in ``hvae_vamp``.
"""

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras
from tf_keras import layers

from zoo.models import networks
from zoo.models.likelihoods import Likelihood, head, log_likelihood
from zoo.models.objectives import Terms, kl_divergence
from zoo.models.posteriors import MultivariateNormalDiag, reparameterized_sample
from zoo.models.priors import StandardNormal, VampPrior
from zoo.models.registry import (Choice, FloatRange, ImageShape, IntRange, PositiveFloat,
                                 PositiveInt, Widths, register)
from zoo.models.vae import VAE, compiled

tfd = tfp.distributions

SPACE = {"latent_dim": IntRange(8, 64, log=True), "units": IntRange(100, 500, log=True),
         "learning_rate": FloatRange(1e-4, 3e-3)}


@tf_keras.utils.register_keras_serializable(package="zoo")
class HierarchicalVAE(VAE):
    """A VAE with layers z1 (bottom), z2 (top). ``encoder``: x -> q(z2|x);
    ``lower_encoder``: [x, z2] -> q(z1|x, z2); ``conditional_prior``: z2 -> p(z1|z2);
    ``likelihood``: [z1, z2] -> p(x|z1, z2); ``prior_layer``: p(z2)."""

    code_name, code_note = "z2_", "codes z2 (top layer), z1 at the mean of p(z1|z2)"

    def __init__(self, encoder, lower_encoder, conditional_prior, likelihood, prior_layer,
                 **kwargs):
        super().__init__(encoder, _mean_decoder(conditional_prior, likelihood), prior_layer,
                         build_now=False, **kwargs)
        self.lower_encoder, self.conditional_prior = lower_encoder, conditional_prior
        self.likelihood = likelihood
        self.build((None, *self.image_shape))

    def _codes(self, x, samples, seed, training):
        """Both layers' posteriors and codes, rows sample-major: (samples * batch, ...)."""
        upper = self.encoder(x, training=training)
        z2 = reparameterized_sample(upper, samples, tf.random.experimental.stateless_fold_in(
            seed, 2))
        z2 = tf.reshape(z2, [-1, z2.shape[-1]])
        x_rows = tf.tile(x, tf.concat([[samples], tf.ones([tf.rank(x) - 1], tf.int32)], 0))
        lower = self.lower_encoder([x_rows, z2], training=training)
        z1 = reparameterized_sample(lower, 1, tf.random.experimental.stateless_fold_in(
            seed, 1), groups=samples)[0]
        return upper, lower, z1, z2

    def generated(self, codes, seed, labels=None):
        """p(x|z1, z2) for top codes z2 = ``codes`` and z1 ~ p(z1|z2), drawn with ``seed``:
        the model's own generative process (its ``decoder``, for pictures, holds z1 at the
        mean)."""
        del labels
        z1 = self.conditional_prior(codes).sample(
            seed=tf.random.experimental.stateless_fold_in(seed, 2))
        return self.likelihood([z1, codes])

    def call(self, x, training=None, seed=None):
        _, _, z1, z2 = self._codes(x, 1, self._call_seed(training, seed), training)
        return self.likelihood([z1, z2], training=training)

    def terms(self, x, samples=1, seed=(0, 0), training=False, code_gradient_weights=None):
        if code_gradient_weights is not None:
            raise NotImplementedError("doubly reparameterised gradients are for one latent "
                                      "layer; use gradient = \"iwae\"")
        seed = tf.cast(seed, tf.int64)
        upper, lower, z1, z2 = self._codes(x, samples, seed, training)
        rv_x = self.likelihood([z1, z2], training=training)
        lower_prior = self.conditional_prior(z2, training=training)
        by_sample = [samples, -1]
        z2_samples = tf.reshape(z2, [samples, -1, z2.shape[-1]])
        upper_prior = self.prior
        log_upper_prior = upper_prior.log_prob(z2_samples)
        log_upper_posterior = upper.log_prob(z2_samples)
        log_lower_prior = tf.reshape(lower_prior.log_prob(z1), by_sample)
        log_lower_posterior = tf.reshape(lower.log_prob(z1), by_sample)
        try:  # per row (samples * batch), then averaged over the samples of z2
            lower_kl = tf.reduce_mean(tf.reshape(tfd.kl_divergence(lower, lower_prior),
                                                 by_sample), axis=0)
        except NotImplementedError:
            lower_kl = tf.reduce_mean(log_lower_posterior - log_lower_prior, axis=0)
        upper_kl = kl_divergence(upper, upper_prior, log_upper_posterior, log_upper_prior)
        return Terms(log_likelihood(rv_x, x, samples),
                     log_upper_prior + log_lower_prior,
                     log_upper_posterior + log_lower_posterior,
                     upper_kl + lower_kl, upper, z2_samples, rv_x)


def _mean_decoder(conditional_prior, likelihood):
    """z2 -> p(x | z1 = mean of p(z1|z2), z2): the model's ``decoder`` (pictures)."""
    z2 = tf_keras.Input(conditional_prior.input_shape[1:], name="z2")
    z1 = conditional_prior(z2)  # as a tensor, p(z1|z2)'s mean (the posterior layers' way)
    return tf_keras.Model(z2, likelihood([z1, z2]), name="decoder")


def _joined(inputs, units, filters=None):
    """Each input through a gated layer of ``units`` (images with ``filters``: through
    the gated conv stack, flattened), concatenated, then one more gated layer."""
    hidden = [_applied(networks.conv_encoder_body(filters, 0, "gated"), tensor)
              if filters and tensor.shape.rank == 4
              else networks.GatedDense(units)(layers.Flatten()(tensor)) for tensor in inputs]
    return networks.GatedDense(units)(layers.Concatenate()(hidden))


def _applied(stack, tensor):
    """``tensor`` through each layer of ``stack`` in turn."""
    for layer in stack:
        tensor = layer(tensor)
    return tensor


def hierarchical_vae(latent_dim, units, input_shape, learning_rate, top_prior, likelihood,
                     filters=None, name="hvae"):
    """The two-layer model with ``latent_dim`` dimensions per layer, gated layers of
    ``units``; ``top_prior(encoder)`` gives p(z2); the ``likelihood`` head. With
    ``filters``, x is read and made by the gated conv stacks (``name``: the builder's,
    for the one-line refusal of an image size the strides do not divide)."""
    if filters:
        stride = networks.conv_stride(input_shape, filters, name)
        encoder = networks.encoder(input_shape, networks.conv_encoder_body(filters, 0, "gated"),
                                   MultivariateNormalDiag(latent_dim, name="q_z_given_x"))
    else:
        encoder, _ = networks.mlp(input_shape, (units, units), latent_dim, activation="gated")
    x, z2 = tf_keras.Input(input_shape), tf_keras.Input((latent_dim,))
    lower_encoder = tf_keras.Model([x, z2], MultivariateNormalDiag(latent_dim, name="q_z1")(
        layers.Dense(2 * latent_dim)(_joined([x, z2], units, filters))), name="lower_encoder")
    conditional_prior = tf_keras.Sequential([
        layers.InputLayer((latent_dim,)),
        *[networks.GatedDense(units) for _ in range(2)],
        layers.Dense(2 * latent_dim),
        MultivariateNormalDiag(latent_dim, name="p_z1"),
    ], name="conditional_prior")
    z1, z2 = tf_keras.Input((latent_dim,)), tf_keras.Input((latent_dim,))
    output = head(likelihood, input_shape)
    if filters:
        params = _applied(networks.conv_decoder_body(
            filters, input_shape, stride, output.params_per_pixel, 0, "gated"),
            _joined([z1, z2], units))
    else:
        params = layers.Dense(output.num_params)(_joined([z1, z2], units))
    likelihood = tf_keras.Model([z1, z2], output(params), name="likelihood")
    model = HierarchicalVAE(encoder, lower_encoder, conditional_prior, likelihood,
                            top_prior(encoder))
    return compiled(model, learning_rate)


@register("hvae", space=SPACE)
def hvae(latent_dim: PositiveInt = 40, units: PositiveInt = 300,
         input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 5e-4,
         likelihood: Likelihood = "bernoulli"):
    """Two stochastic layers z1, z2, standard normal top prior (Tomczak & Welling 2018)."""
    return hierarchical_vae(latent_dim, units, input_shape, learning_rate,
                            lambda encoder: StandardNormal(latent_dim), likelihood)


@register("hvae_vamp", space={**SPACE, "components": IntRange(50, 1000, log=True)})
def hvae_vamp(latent_dim: PositiveInt = 40, units: PositiveInt = 300,
              components: PositiveInt = 500, input_shape: ImageShape = (28, 28, 1),
              learning_rate: PositiveFloat = 5e-4, likelihood: Likelihood = "bernoulli"):
    """Two stochastic layers, VampPrior on the top one (Tomczak & Welling 2018)."""
    return hierarchical_vae(latent_dim, units, input_shape, learning_rate,
                            lambda encoder: VampPrior(encoder, latent_dim, components),
                            likelihood)


@register("conv_hvae_vamp", space={**SPACE, "components": IntRange(50, 1000, log=True),
                                   "filters": Choice(("16,32", "32,64", "64,128"))})
def conv_hvae_vamp(latent_dim: PositiveInt = 40, units: PositiveInt = 300,
                   components: PositiveInt = 500, filters: Widths = (32, 64),
                   input_shape: ImageShape = (28, 28, 1), learning_rate: PositiveFloat = 5e-4,
                   likelihood: Likelihood = "bernoulli"):
    """Two stochastic layers on gated conv nets, VampPrior on the top one (convHVAE)."""
    return hierarchical_vae(latent_dim, units, input_shape, learning_rate,
                            lambda encoder: VampPrior(encoder, latent_dim, components),
                            likelihood, filters, "conv_hvae_vamp")
