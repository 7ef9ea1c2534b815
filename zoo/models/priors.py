"""Priors p(z): Keras layers that return a ``tfd.Distribution``.

A prior is a layer so that it can own trainable variables (a mixture's weights, a
VampPrior's pseudo-inputs) that train with the model and are saved with it. The model asks
for the distribution afresh each time (``model.prior``), so after training it is the
trained prior, never a snapshot from build time. ``layer.distribution()`` returns it;
calling the layer on anything does the same, for use inside Keras graphs.
"""

import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

tfd = tfp.distributions


class Prior(tf_keras.layers.Layer):
    """Base class: subclasses implement ``distribution()`` and ``get_config()``."""

    def __init__(self, latent_dim, **kwargs):
        super().__init__(**kwargs)
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
        return tfd.MultivariateNormalDiag(loc=tf.zeros(self.latent_dim),
                                          scale_diag=tf.ones(self.latent_dim))


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
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=self.logits),
            components_distribution=tfd.MultivariateNormalDiag(
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
        return tfd.MixtureSameFamily(
            mixture_distribution=tfd.Categorical(logits=tf.zeros(self.components)),
            components_distribution=getattr(posteriors, "tensor_distribution", posteriors))

    def get_config(self):
        return {**super().get_config(), "components": self.components}
