"""Samplers of codes beyond the prior, fitted on a trained model's codes of its training
images (the posterior means, ``model.encode``), for ``model.sample(n, sampler=...)``.

- ``prior``: the model's own p(z) (a VampPrior or a mixture included), fitted on nothing;
- ``gmm``: a Gaussian mixture on the codes, ``components`` full-covariance Gaussians (10,
  as pythae's GaussianMixtureSampler), fitted by scikit-learn's ``GaussianMixture`` (EM,
  k-means initialisation, seeded), drawn through TFP's ``MixtureSameFamily``;
- ``flow``: a masked autoregressive flow (Papamakarios et al. 2017; TFP's
  ``MaskedAutoregressiveFlow`` over ``AutoregressiveNetwork``s, ``FLOW_LAYERS`` of them with
  the order reversed between, on the codes standardised per dimension), fitted by maximum
  likelihood (Adam, ``FLOW_EPOCHS`` passes over the codes in batches of 256, seeded: its
  initial weights and order; the fit itself repeats bit for bit under TensorFlow's
  deterministic ops only);
- ``two_stage`` (Dai & Wipf 2019): a second VAE over the codes, the zoo's own ``mlp_vae``
  (latent as wide as the codes, ``TWO_STAGE_UNITS`` hidden units, a Gaussian decoder with
  learned scale) trained with its own ``fit`` on the codes standardised per dimension
  (``TWO_STAGE_EPOCHS`` passes, batches of 128, seeded as ``zoo.train`` seeds a run:
  TensorFlow's, NumPy's and Python's global generators); codes drawn from it, z ~ p(z|u)
  for u ~ N(0, I) (its decoder's draws, not its mean: a second stage that uses u little
  still draws the codes' spread). On mlp_vae:fashion_mnist's codes it stays behind the
  mixture: FID 60.48 against 44.39, the prior 77.84 (``benchmarks/two_stage.py``,
  ``benchmarks/results/tried/two-stage-mlp_vae_fashion_mnist.json``: unstandardised codes
  80.21, 20 epochs 68.25, a KL warm-up 73.65, posterior draws as Dai & Wipf feed it 77.45:
  its KL 0.05 nats, u unused).

A fitted sampler ``save``s to one ``.npz`` file (its parameters and how it was fitted) and
``load``s from it; ``sample(n, seed)`` gives codes (n, latent_dim), the same for the same
stateless seed.
"""

import dataclasses
import json
import pathlib

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from zoo import files
from zoo.errors import ConfigError, did_you_mean

tfd, tfb = tfp.distributions, tfp.bijectors
SAMPLERS = ("prior", "gmm", "flow", "two_stage")
# How the samplers are fitted: a kept sampler fitted otherwise (another version) is fitted
# anew. 2: TwoStage on standardised codes, 100 epochs; at most 50,000 training images.
VERSION = 2
GMM_COMPONENTS = 10  # pythae's
FLOW_LAYERS, FLOW_UNITS, FLOW_EPOCHS = 4, (64, 64), 20
TWO_STAGE_UNITS, TWO_STAGE_EPOCHS = (256, 256), 100


@dataclasses.dataclass
class Prior:
    """The model's prior p(z)."""

    model: object
    kind = "prior"

    def sample(self, n, seed):
        return self.model.prior.sample(n, seed=seed)


@dataclasses.dataclass
class GaussianMixture:
    """A mixture of full-covariance Gaussians over the codes: ``weights`` (K,), ``means``
    (K, d), ``covariances`` (K, d, d), float64; ``fitted``: how (codes, seed, iterations,
    the training codes' mean log-density)."""

    weights: np.ndarray
    means: np.ndarray
    covariances: np.ndarray
    fitted: dict = dataclasses.field(default_factory=dict)
    kind = "gmm"

    @classmethod
    def fit(cls, codes, components=GMM_COMPONENTS, seed=0):
        from sklearn.mixture import GaussianMixture as EM

        codes = np.asarray(codes, np.float64)
        if len(codes) < components:
            raise ConfigError(f"a mixture of {components} Gaussians needs at least as many "
                              f"codes; got {len(codes)}")
        em = EM(components, covariance_type="full", random_state=seed).fit(codes)
        return cls(em.weights_, em.means_, em.covariances_,
                   {"codes": len(codes), "seed": seed, "iterations": int(em.n_iter_),
                    "converged": bool(em.converged_),
                    "mean_log_density": float(em.score(codes))})

    def distribution(self):
        return tfd.MixtureSameFamily(
            tfd.Categorical(probs=tf.constant(self.weights, tf.float32)),
            tfd.MultivariateNormalTriL(
                tf.constant(self.means, tf.float32),
                tf.constant(np.linalg.cholesky(self.covariances), tf.float32)))

    def sample(self, n, seed):
        return self.distribution().sample(n, seed=seed)


@dataclasses.dataclass
class Flow:
    """A masked autoregressive flow over the codes: ``shift`` and ``scale`` standardise
    them; ``weights``, its autoregressive networks' (None: untrained); ``fitted``: how."""

    shift: np.ndarray
    scale: np.ndarray
    weights: list = None
    fitted: dict = dataclasses.field(default_factory=dict)
    kind = "flow"

    def __post_init__(self):
        import tf_keras

        dimensions = len(self.shift)
        self.networks = [tfb.AutoregressiveNetwork(
            params=2, event_shape=[dimensions], hidden_units=list(FLOW_UNITS),
            activation="relu", kernel_initializer=tf_keras.initializers.GlorotUniform(
                seed=self.fitted.get("seed", 0) * FLOW_LAYERS + layer))
            for layer in range(FLOW_LAYERS)]
        steps = [tfb.Shift(self.shift.astype(np.float32)),
                 tfb.Scale(self.scale.astype(np.float32))]
        for layer, network in enumerate(self.networks):  # (Chain applies the last first)
            steps.append(tfb.MaskedAutoregressiveFlow(network))
            if layer < FLOW_LAYERS - 1:
                steps.append(tfb.Permute(list(reversed(range(dimensions)))))
        base = tfd.MultivariateNormalDiag(tf.zeros([dimensions]))
        self.distribution = tfd.TransformedDistribution(base, tfb.Chain(steps))
        self.distribution.log_prob(tf.zeros([1, dimensions]))  # builds the networks
        if self.weights is not None:
            for network, weights in zip(self.networks, self.weights, strict=True):
                network.set_weights(weights)

    @classmethod
    def fit(cls, codes, seed=0, epochs=FLOW_EPOCHS, batch_size=256):
        import tf_keras

        codes = np.asarray(codes, np.float32)
        flow = cls(*standardising(codes), fitted={"seed": seed})
        variables = [v for network in flow.networks for v in network.trainable_variables]
        optimizer = tf_keras.optimizers.legacy.Adam(1e-3)

        @tf.function
        def step(batch):
            with tf.GradientTape() as tape:
                loss = -tf.reduce_mean(flow.distribution.log_prob(batch))
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss

        order = np.random.default_rng(seed)
        for _ in range(epochs):
            shuffled = codes[order.permutation(len(codes))]
            for start in range(0, len(codes), batch_size):
                step(shuffled[start:start + batch_size])
        flow.weights = [network.get_weights() for network in flow.networks]
        flow.fitted.update(codes=len(codes), epochs=epochs, mean_log_density=float(
            np.mean(flow.distribution.log_prob(codes))))
        return flow

    def sample(self, n, seed):
        return self.distribution.sample(n, seed=seed)


@dataclasses.dataclass
class TwoStage:
    """The second-stage VAE over the codes: ``config``, its ``zoo_config`` (the builder's
    name and overrides); ``shift`` and ``scale`` standardise the codes; ``weights``, its
    weights (None: untrained); ``fitted``: how."""

    config: dict
    shift: np.ndarray
    scale: np.ndarray
    weights: list = None
    fitted: dict = dataclasses.field(default_factory=dict)
    kind = "two_stage"

    def __post_init__(self):
        from zoo.models import registry

        self.model = registry.rebuild(self.config)
        if self.weights is not None:
            self.model.set_weights(self.weights)

    @classmethod
    def fit(cls, codes, seed=0, epochs=TWO_STAGE_EPOCHS, batch_size=128, standardise=True,
            kl_warmup_epochs=0):
        """Fitted on ``codes`` (``standardise=False``: as they are; ``kl_warmup_epochs``:
        the KL weight rising from 0 to 1 over these epochs: tried, see the module
        docstring)."""
        import tf_keras

        codes = np.asarray(codes, np.float32)
        dimensions = codes.shape[1]
        tf_keras.utils.set_random_seed(seed)  # its initial weights and batches
        stage = cls({"name": "mlp_vae", "overrides": {
            "latent_dim": dimensions, "hidden_units": list(TWO_STAGE_UNITS),
            "input_shape": [dimensions, 1, 1], "likelihood": "gaussian"}},
            *standardising(codes, standardise), fitted={"seed": seed})
        if kl_warmup_epochs:
            stage.model.compile(learning_rate=float(stage.model.optimizer.learning_rate),
                                kl_warmup_steps=kl_warmup_epochs * -(-len(codes) // batch_size))
        standardised = (codes - stage.shift) / stage.scale
        stage.model.fit(standardised[:, :, None, None], epochs=epochs, batch_size=batch_size,
                        verbose=0)
        stage.weights = stage.model.get_weights()
        kl = stage.model.evaluate(standardised[:, :, None, None], batch_size=500, verbose=0,
                                  return_dict=True)["kl"]
        stage.fitted.update(codes=len(codes), epochs=epochs, kl=float(kl),
                            standardised=standardise, kl_warmup_epochs=kl_warmup_epochs)
        return stage

    def sample(self, n, seed):
        inner = self.model.prior.sample(n, seed=seed)
        drawn = self.model.decoder(inner).sample(
            seed=tf.random.experimental.stateless_fold_in(seed, 1))
        return tf.reshape(tf.cast(drawn, tf.float32), [n, -1]) * self.scale + self.shift


def standardising(codes, standardise=True):
    """``(shift, scale)`` (float32, per dimension) that standardise ``codes`` (n, d): their
    mean and standard deviation; ``standardise=False``: 0 and 1, leaving them as they are."""
    codes = np.asarray(codes, np.float32)
    if not standardise:
        return np.zeros(codes.shape[1], np.float32), np.ones(codes.shape[1], np.float32)
    return codes.mean(0), codes.std(0) + np.float32(1e-6)


def fit(kind, model, images, seed=0, batch_size=500, components=GMM_COMPONENTS):
    """The sampler ``kind`` (one of SAMPLERS) of ``model``, fitted on the codes of
    ``images`` (an array, or a dataset of image batches or of (images, ...) batches; a
    conditional model's: of (images, labels) batches)."""
    check(kind)
    codes = None if kind == "prior" else codes_of(model, images, batch_size)
    return fit_codes(kind, model, codes, seed, components)


def fit_codes(kind, model, codes, seed=0, components=GMM_COMPONENTS):
    """The sampler ``kind`` of ``model`` fitted on ``codes`` (``codes_of``; None for the
    prior), so that several samplers share one pass of the encoder."""
    check(kind)
    if kind == "prior":
        return Prior(model)
    if kind == "flow":
        return Flow.fit(codes, seed)
    if kind == "two_stage":
        return TwoStage.fit(codes, seed)
    return GaussianMixture.fit(codes, components, seed)


def check(kind):
    """A one-line ConfigError unless ``kind`` is one of SAMPLERS."""
    if kind not in SAMPLERS:
        raise ConfigError(f"unknown sampler '{kind}'; {did_you_mean(kind, SAMPLERS)}use one "
                          f"of {', '.join(SAMPLERS)}")


def codes_of(model, images, batch_size=500):
    """The codes (``model.encode``: posterior means) of ``images``, float64 (n, d); a
    conditional model's of a dataset of (images, labels) batches."""
    if isinstance(images, tf.data.Dataset):
        batches = ((batch if model.conditional else batch[0])
                   if isinstance(batch, (tuple, list)) else batch for batch in images)
    else:
        images = np.asarray(images, np.float32)
        batches = (images[start:start + batch_size]
                   for start in range(0, len(images), batch_size))
    return np.concatenate([np.asarray(
        model.encode(*batch) if isinstance(batch, tuple) else model.encode(batch), np.float64)
        for batch in batches])


def save(sampler, path):
    """Writes a fitted sampler (gmm, flow) to ``path`` (.npz), atomically; returns it."""
    path = pathlib.Path(path)
    if isinstance(sampler, GaussianMixture):
        arrays = {"weights": sampler.weights, "means": sampler.means,
                  "covariances": sampler.covariances}
    elif isinstance(sampler, TwoStage):
        arrays = {"config": json.dumps(sampler.config), "shift": sampler.shift,
                  "scale": sampler.scale, **{f"weight{index}": array
                                             for index, array in enumerate(sampler.weights)}}
    elif isinstance(sampler, Flow):
        arrays = {"shift": sampler.shift, "scale": sampler.scale,
                  **{f"network{layer}_{index}": array
                     for layer, weights in enumerate(sampler.weights)
                     for index, array in enumerate(weights)}}
    else:
        raise ConfigError(f"the {sampler.kind} sampler is the model's own: nothing to save")
    with files.atomic_path(path) as partial:
        with open(partial, "wb") as handle:
            np.savez(handle, kind=sampler.kind, fitted=json.dumps(sampler.fitted), **arrays)
    return path


def load(path):
    """The sampler ``save`` wrote to ``path``."""
    with np.load(path) as held:
        kind, fitted = str(held["kind"]), json.loads(str(held["fitted"]))
        if kind == GaussianMixture.kind:
            return GaussianMixture(held["weights"], held["means"], held["covariances"],
                                   fitted)
        if kind == Flow.kind:
            weights = [[held[f"network{layer}_{index}"] for index in range(sum(
                name.startswith(f"network{layer}_") for name in held.files))]
                for layer in range(FLOW_LAYERS)]
            return Flow(held["shift"], held["scale"], weights, fitted)
        if kind == TwoStage.kind:
            count = sum(name.startswith("weight") for name in held.files)
            config = json.loads(str(held["config"]))
            shift, scale = ((held["shift"], held["scale"]) if "shift" in held.files else
                            standardising(  # (before VERSION 2: the codes as they were)
                                np.zeros([1, config["overrides"]["latent_dim"]]), False))
            return TwoStage(config, shift, scale,
                            [held[f"weight{index}"] for index in range(count)], fitted)
        raise ConfigError(f"{path} holds a {kind} sampler, which the zoo does not read")
