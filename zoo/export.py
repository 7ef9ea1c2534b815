"""Export for serving: a TensorFlow SavedModel of a zoo model with four signatures.

``export(model, folder)`` writes a SavedModel that TF Serving, or ``tf.saved_model.load``
in a Python without zoo (or TFP), serves::

    encode(images)        -> mean, scale_tril      q(z|x) = N(mean, scale_tril scale_tril^T)
    decode(codes)         -> mean                  E[x|z] (Bernoulli: pixel probabilities)
    sample(n, seed)       -> codes, mean, images   z ~ p(z), E[x|z], x ~ p(x|z) (model.sample)
    elbo(images, seed)    -> elbo, reconstruction, kl      nats per example, 1 code each

(an autoencoder without an ELBO, its codes a point mass: ``reconstruction(images, seed)
-> reconstruction`` in place of ``elbo``, and ``encode`` gives its ``codes``).

``images`` are float32 (batch, height, width, channels) in the model's format; ``codes``
float32 (batch, latent_dim); ``n`` an int32 scalar; ``seed`` int32 of shape [2]: the same
seed gives the same numbers, in the export and in the live model (``model.terms``). For a
flow posterior (iaf_vae) ``encode`` gives the flow's ``location`` (its base mean carried
through the flow: the flow's mean has no closed form) and its base Gaussian
(``base_mean``, ``base_scale_tril``); for a von Mises-Fisher posterior (svae) its
``mean_direction`` and ``concentration``; for a VQ-VAE's point mass its ``codes`` (z_q)
and their codebook ``indices`` (int32, one per grid position). For a hierarchical model,
codes are the top layer's, z2 (as ``model.encoder`` and ``model.decoder``); ``decode``
holds z1 at the mean of p(z1|z2), ``sample`` draws it (``model.generated``).

The functions are traced from the model's parts and hold its variables alone: no Keras
layer is serialised, so nothing of zoo, Keras or TFP is needed to load them (``model.save``
in Keras's SavedModel format, by contrast, traces every layer and fails on the
distribution layers).
"""

import functools
import pathlib
import shutil
import tempfile

import tensorflow as tf
import tensorflow_probability as tfp

from zoo import compat, files
from zoo.errors import ConfigError
from zoo.models.posteriors import flow_location

tfd = tfp.distributions
SIGNATURES = ("encode", "decode", "sample", "elbo")  # "reconstruction" for "elbo" without one


def signatures(model):
    """The export's signatures of ``model``: SIGNATURES, or, for a model without an ELBO,
    ``reconstruction`` in place of ``elbo``."""
    return SIGNATURES if model.has_elbo else (*SIGNATURES[:-1], "reconstruction")


def _encode(model, images):
    posterior = model.encoder(images)
    distribution = compat.distribution_of(posterior)
    if isinstance(distribution, tfd.MultivariateNormalLinearOperator):  # (TFP makes it a
        return {"mean": distribution.mean(),                            # flow: first)
                "scale_tril": distribution.scale.to_dense()}
    if isinstance(distribution, tfd.VonMisesFisher):
        return {"mean_direction": distribution.mean_direction,
                "concentration": distribution.concentration}
    if hasattr(distribution, "quantized"):  # a VQ-VAE's point mass (VectorQuantizer)
        return {"codes": distribution.quantized,
                "indices": model.encoder.layers[-1].nearest(distribution.quantized)}
    if not model.has_elbo:  # an autoencoder's point mass (PointMass)
        return {"codes": distribution.mean()}
    base = distribution.distribution
    return {"location": flow_location(distribution), "base_mean": base.mean(),
            "base_scale_tril": base.scale.to_dense()}


def _decode(model, codes):
    return {"mean": model.decoder(codes).mean()}


def _sample(model, n, seed):
    codes = model.prior.sample(n, seed=seed)
    rv_x = model.generated(codes, seed)
    image_seed = tf.random.experimental.stateless_fold_in(seed, 1)
    return {"codes": codes, "mean": rv_x.mean(),
            "images": tf.cast(rv_x.sample(seed=image_seed), tf.float32)}


def _elbo(model, images, seed):
    terms = model.terms(images, 1, tf.cast(seed, tf.int64))
    return {"elbo": -(terms.reconstruction + terms.kl), "reconstruction": terms.reconstruction,
            "kl": terms.kl}


def _reconstruction(model, images, seed):
    terms = model.terms(images, 1, tf.cast(seed, tf.int64))
    return {"reconstruction": terms.reconstruction}


def _served(model):
    """A tf.Module holding the model's variables alone (no Keras object, which
    tf.saved_model.save would serialise) and the four functions, traced from the model."""
    images = tf.TensorSpec((None, *model.image_shape), tf.float32, name="images")
    codes = tf.TensorSpec((None, model.latent_dim), tf.float32, name="codes")
    seed = tf.TensorSpec([2], tf.int32, name="seed")
    n = tf.TensorSpec([], tf.int32, name="n")
    served = tf.Module(name="zoo_export")
    served.model_variables = list(model.variables)
    functions = {"encode": (_encode, [images]), "decode": (_decode, [codes]),
                 "sample": (_sample, [n, seed]), "elbo": (_elbo, [images, seed]),
                 "reconstruction": (_reconstruction, [images, seed])}
    for name in signatures(model):
        function, specs = functions[name]
        setattr(served, name, tf.function(functools.partial(function, model),
                                          input_signature=specs))
    return served


def export(model, folder, overwrite=False):
    """Writes ``model`` as a SavedModel with the signatures ``encode``, ``decode``,
    ``sample`` and ``elbo`` (see the module docstring) to ``folder``; returns its path.

    The folder is written whole or not at all: into a temporary folder beside it, then
    renamed. An existing ``folder`` is refused unless ``overwrite``.
    """
    folder = pathlib.Path(folder)
    if model.conditional:
        raise ConfigError("zoo.export takes unconditional models for now: a conditional "
                          "model's signatures would take labels too")
    if folder.exists() and not overwrite:
        raise ConfigError(f"{folder} exists; pick another folder or pass overwrite=True "
                          "(--overwrite)")
    if folder.exists() and not (folder / "saved_model.pb").is_file():
        raise ConfigError(f"{folder} exists and is not a SavedModel; refusing to replace it")
    served = _served(model)
    with files.writing(folder):
        folder.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}.") as temp:
            written = pathlib.Path(temp) / "saved_model"
            tf.saved_model.save(served, str(written), signatures={
                name: getattr(served, name).get_concrete_function() for name in signatures(model)})
            if folder.exists():
                shutil.rmtree(folder)
            written.rename(folder)
    return folder
