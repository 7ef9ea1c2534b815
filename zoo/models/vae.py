"""The VAE: encoder -> posterior q(z|x), prior p(z), decoder -> likelihood p(x|z), objective.

``rv_x = model(x)`` is p(x|z) for z ~ q(z|x), the TFP Probabilistic Layers way. Training
runs one ``train_step`` for every family (keras-io's VAE example): the model's per-sample
terms (``terms``), the objective's per-example loss (``zoo.models.objectives``), the
optimizer. ``neg_elbo``, ``reconstruction`` and ``kl`` are Keras metrics, in nats per
example; ``loss`` is the objective (beta and KL warm-up included); an objective's own
metrics (``Objective.metrics``: a total correlation, an effective sample size) follow.

Posterior noise is a pure function of (``seed``, ``step``, row of the global batch):
``step`` is a model variable that every training forward pass advances, in ``fit`` and in
a user's own GradientTape loop alike, and that checkpoints restore; so a resumed run and
N replicas give the numbers of one uninterrupted device. Validation batches each get their
own noise, a function of (seed, step, batch of the evaluation).

How tf_keras compiles, steps, saves and reloads the model (its step functions, a legacy
optimizer's state in a ``.keras`` file) lives in the base class, ``keras_steps.KerasSteps``.
"""

import os
import random
import warnings

import tensorflow as tf
import tf_keras

from zoo import compat, files
from zoo.checks import checked_images, reported_as_data_errors, warn_if_grey
from zoo.errors import ConfigError
from zoo.models import replicas
from zoo.models.likelihoods import head_of, log_likelihood
from zoo.models import objectives
from zoo.models.keras_steps import KerasSteps
from zoo.models.objectives import ELBO, Terms, kl_divergence
from zoo.models.posteriors import held_fixed, reparameterized_sample

# The default optimizer: tf_keras's legacy Adam, which updates each variable with one
# fused kernel (ResourceApplyAdam); tf_keras.optimizers.Adam (the new one) runs several
# elementwise ops instead, slower here. Same-seed runs in separate processes have also
# been seen to differ with the new one, never with this one (benchmarks/README.md).
ADAM = tf_keras.optimizers.legacy.Adam

# Training steps per call of the compiled step function (Keras's ``steps_per_execution``):
# a step of these small models lasts a few milliseconds, and at 1 Keras's per-call Python
# work (callbacks, logs) takes a visible share of it on a CPU (see benchmarks/README.md).
# Batch-level callbacks run every 16 batches.
STEPS_PER_EXECUTION = 16

# streams of the noise seed
_TRAINING_NOISE, _EVALUATION_NOISE, _CALL_NOISE, _CHOSEN_NOISE = 0, 1, 2, 3


# Saving and loading a .keras file, Keras reads every layer's legacy SavedModel metadata
# (unused by that format), and the masked Dense layers of TFP's AutoregressiveNetwork (a
# flow posterior's MADE) warn there that their mask functions are not Keras objects.
warnings.filterwarnings("ignore", r"The `keras\.(initializers|constraints)\.serialize\(\)` "
                        "API should only be used", UserWarning)

_HAND_BUILT = ("this VAE was assembled by hand, so Keras has no config to rebuild it from: "
               "register a builder for it (@zoo.register) and build it with zoo.get to save "
               "it whole, or save its weights (model.save_weights) or zoo.export it")


def global_mean(per_example):
    """The mean of a replica's per-example values over the global batch, however replicas
    split it: what each replica's gradients are taken of (``tf.distribute`` sums them)."""
    return tf.nn.compute_average_loss(
        per_example, global_batch_size=replicas.row_span(tf.shape(per_example)[0])[1])


def stateless_seed(seed):
    """``seed`` (an int s, or a pair) as a stateless seed: int32 [0, s], or the pair."""
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 0:
        seed = tf.stack([tf.zeros_like(seed), seed])
    return tf.cast(seed, tf.int32)


def _check_density(encoder, objective):
    """Refuses, in one line, an objective that bounds log p(x) (a KL to the prior) on an
    encoder whose codes have no density (``posteriors.PointMass``)."""
    last = encoder.layers[-1] if getattr(encoder, "layers", None) else None
    if objectives.bounds(objective) and getattr(last, "density", True) is False:
        raise ConfigError(
            f"objective {type(objective).__name__} bounds log p(x) with KL(q(z|x) || p(z)), "
            f"and this encoder's codes are a point mass ({type(last).__name__}), without a "
            "density: train it with an autoencoder's objective (objectives.Reconstruction, "
            "RAE or WAE) or end the encoder in a stochastic posterior")


def compiled(model, learning_rate):
    """``model`` compiled with the zoo's default optimizer (``ADAM``) at ``learning_rate``:
    what a builder returns."""
    model.compile(learning_rate=learning_rate)
    return model


@tf_keras.utils.register_keras_serializable(package="zoo")
class VAE(KerasSteps):
    """A VAE assembled from parts; a tf_keras model ``x -> p(x|z)``.

    ``encoder``: a Keras model from images to q(z|x), ending in a posterior layer
    (``zoo.models.posteriors``). ``decoder``: codes to p(x|z), ending in a likelihood
    layer (``zoo.models.likelihoods``). ``prior_layer``: a ``zoo.models.priors.Prior``;
    ``model.prior`` is its distribution now. ``objective``: an ``objectives.Objective``
    (``ELBO(beta)``, ``IWAE(k)``, ``BetaTC``, ``MMD`` or one's own), refused here in one
    line if it breaks that contract. ``seed``: of the posterior noise (random if None).

    ``compile`` defaults to tf_keras's fused Adam, ``steps_per_execution=16`` (1 for an
    objective that gathers rows across several replicas: ``BetaTC.gathers_rows``) and the
    objective's own loss and metrics; ``kl_warmup_steps=N`` raises the KL weight linearly
    from 0 to beta over the first N training steps (in the graph, every step). ``fit``,
    ``evaluate`` and ``predict`` check the images' shape and range first; ``fit(x)`` needs
    no targets (they are the inputs).
    """

    ROW_LEAVES_OUT = ()  # the parts a leaderboard row's weights file goes without

    def __init__(self, encoder, decoder, prior_layer, objective=ELBO(), seed=None,
                 build_now=True, **kwargs):
        # the images as given, also under a mixed policy (where Keras would cast a
        # subclassed model's inputs to bfloat16); the encoder's layers cast their own
        super().__init__(**{"autocast": False, **kwargs})
        objectives.check(objective)
        _check_density(encoder, objective)
        self.encoder, self.decoder, self.prior_layer = encoder, decoder, prior_layer
        self.objective = objective
        self.seed = random.randrange(2**31) if seed is None else seed
        self.step = self.add_weight(
            name="step", shape=(), dtype=tf.int64, trainable=False, initializer="zeros",
            aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA)
        self.kl_warmup_steps = 0
        self.zoo_config = None  # {"name": builder, "overrides": {...}}, set by zoo.get
        # Set past Keras's attribute tracking: as attributes, metrics' variables would count
        # among the model's weights (saved, and restored by EarlyStopping).
        object.__setattr__(self, "trackers", tuple(
            tf_keras.metrics.Mean(name=name) for name in objectives.names_of(objective)))
        if build_now:  # weights exist from the start (a subclass with more parts: later)
            self.build((None, *encoder.input_shape[1:]))

    def build(self, input_shape):
        """Marks the model built for inputs of ``input_shape``, as Keras's ``build`` leaves
        it. Every weight lives in the parts (encoder, decoder, prior layer: functional models
        and layers, built when made), so there is nothing to create: Keras's own ``build`` of
        a subclassed model would trace a symbolic call of the whole model to find them, 0.2 to
        0.7 s of every ``zoo.get`` and ``.keras`` load."""
        super(tf_keras.Model, self).build(input_shape)  # Layer.build: records the shape
        if type(self.objective).__module__ != objectives.__name__:
            self._try_objective()

    def _try_objective(self):
        """Runs an objective from outside the zoo once on two blank images, so that a
        missing, undeclared or misshapen value (``objectives.check_values``) or an error
        inside it is refused now, in one line, not deep in a traced training step."""
        images = tf.zeros((2, *self.image_shape))
        inputs = self.model_inputs(images, tf.zeros([2], tf.int32))  # labels, if it takes any
        try:
            values = self.objective(self, inputs, tf.constant([0, 0], tf.int64), 1.0, False)
        except Exception as error:  # whatever it raises, said in one line
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ConfigError(f"objective {type(self.objective).__name__} failed on a batch of "
                              f"two blank images: {type(error).__name__}: {detail}") from None
        objectives.check_values(self.objective, values, rows=2)

    @property
    def has_elbo(self):
        """Whether the model bounds log p(x): its objective reports the ELBO's terms
        (False for an autoencoder whose codes are a point mass: ``objectives.Reconstruction``,
        ``RAE``, ``WAE``)."""
        return objectives.bounds(self.objective)

    @property
    def prior(self):
        """p(z): the prior layer's distribution, with its current (trained) variables."""
        return self.prior_layer.distribution()

    @property
    def image_shape(self):
        return tuple(self.encoder.input_shape[1:])

    @property
    def likelihood_head(self):
        """The decoder's likelihood layer (``zoo.models.likelihoods``), or None for a
        decoder of one's own that ends in another layer (TFP's own, say)."""
        return head_of(self.decoder)

    @property
    def data_kind(self):
        """Which images the likelihood models (``zoo.checks.KINDS``): its head's ``data``;
        binary for a decoder without a zoo head (TFP's Bernoulli, say)."""
        return getattr(self.likelihood_head, "data", "binary")

    @property
    def latent_dim(self):
        return self.prior_layer.latent_dim

    @property
    def metrics(self):
        return list(self.trackers)

    # How pictures name the codes: "z0", "z1"... (a hierarchical model's are its top layer).
    code_name, code_note = "z", ""

    # What the model takes: images ``x``; a conditional model, ``(x, labels)`` (its
    # ``model_inputs``). The three hooks below are all a conditional model changes.
    conditional = False

    def model_inputs(self, x, y=None):
        """The inputs of ``terms`` and ``call`` from a batch ``(x, y)``: the images (``y`` is
        nothing, or the images again as Keras targets)."""
        del y
        return x

    def images_of(self, inputs):
        """The images among the model's inputs."""
        return inputs

    def decode(self, codes, inputs=None, training=False):
        """p(x|z) for ``codes`` (rows), the decoder's distribution (``inputs``: what else a
        conditional decoder takes from the batch, repeated to the codes' rows)."""
        del inputs
        return self.decoder(codes, training=training)

    def posterior(self, inputs, training=False):
        """q(z|x) for the model's inputs."""
        return self.encoder(inputs, training=training)

    # What users call on a trained model (the exported SavedModel's encode, decode and
    # sample give the same numbers: zoo.export).

    def encode(self, images, labels=None, seed=None):
        """The codes of ``images`` (a conditional model: and their ``labels``), float32
        (rows, latent_dim): the centre of q(z|x) (its mean; a flow's base mean carried
        through the flow; a hierarchical model's top layer), or, with ``seed`` (an int or
        a stateless pair), one draw from it, the same for the same seed."""
        posterior = self.posterior(self.model_inputs(images, labels))
        if seed is None:
            return tf.convert_to_tensor(posterior)
        return compat.distribution_of(posterior).sample(seed=stateless_seed(seed))

    def generated(self, codes, seed, labels=None):
        """p(x|z) of codes drawn to make images (``sample``, the export's ``sample``): the
        decoder's (a hierarchical model draws its lower layer too, with ``seed``)."""
        del seed
        return self.decode(codes, labels)

    def reconstruct(self, images, labels=None):
        """E[x|z] at the codes of ``images`` (``encode``): their reconstructions, as
        ``zoo plot recon`` draws them."""
        return self.decode(self.encode(images, labels), labels).mean()

    def sample(self, n, seed=0, sampler=None, labels=None, mean=True):
        """``n`` images made by the model: codes z ~ p(z) (or ``sampler``'s codes: a
        fitted ``zoo.samplers`` sampler), decoded to E[x|z] (``mean=False``: a draw x ~
        p(x|z)); the same for the same ``seed`` (an int or a stateless pair; the export's
        ``sample(n, seed)`` gives these numbers). A conditional model decodes them with
        ``labels``, one per image."""
        seed = stateless_seed(seed)
        codes = (self.prior.sample(n, seed=seed) if sampler is None
                 else sampler.sample(n, seed=seed))
        if self.conditional and labels is None:
            raise ConfigError("a conditional model samples images of given classes: pass "
                              "labels=, one per image")
        decoded = self.generated(codes, seed, labels)
        if mean:
            return decoded.mean()
        return tf.cast(decoded.sample(seed=tf.random.experimental.stateless_fold_in(seed, 1)),
                       tf.float32)

    def call(self, inputs, training=None, seed=None):
        """p(x|z) for one z ~ q(z|x), drawn from the model's noise: in training, the
        step's (and the step advances); otherwise keyed to the step and the batch of
        ``predict`` (stateless: no global seed needed, also with deterministic ops), so
        ``model(x)`` gives the same draw until the model trains on. ``seed`` (an int) draws
        another code for each: ``[model(x, seed=s) for s in range(5)]`` are five
        reconstructions of every image, the same five on every call."""
        z = reparameterized_sample(self.posterior(inputs, training), 1,
                                   self._call_seed(training, seed))[0]
        return self.decode(z, inputs, training)

    def _call_seed(self, training, seed=None):
        if seed is not None:
            return self._noise_seed(_CHOSEN_NOISE, seed)
        if training:
            return self._training_noise()[0]
        return self._noise_seed(_CALL_NOISE, self.step, compat.predict_batches_run(self))

    def terms(self, inputs, samples=1, seed=(0, 0), training=False,
              code_gradient_weights=None):
        """The per-sample terms of ``samples`` codes per example drawn with ``seed``
        (shape [2]): log p(x|z_s), log p(z_s), log q(z_s|x) and the KL (an
        ``objectives.Terms``), in nats.

        ``code_gradient_weights`` (samples, batch), for doubly reparameterised gradients
        (Tucker et al. 2018): the gradient reaching the encoder through each code is scaled
        by its weight, and log q(z|x) is taken with the posterior's parameters held fixed
        (``posteriors.held_fixed``), so the encoder learns through the codes alone.
        """
        posterior = self.posterior(inputs, training)
        prior = self.prior
        z = reparameterized_sample(posterior, samples, seed)           # (S, batch, latent)
        if code_gradient_weights is not None:
            z = tf.stop_gradient(z) + code_gradient_weights[..., None] * (
                z - tf.stop_gradient(z))
            posterior = held_fixed(posterior)
        rv_x = self.decode(tf.reshape(z, tf.concat([[-1], tf.shape(z)[2:]], 0)), inputs,
                           training)
        log_prior, log_posterior = prior.log_prob(z), posterior.log_prob(z)
        return Terms(log_likelihood(rv_x, self.images_of(inputs), samples), log_prior,
                     log_posterior,
                     kl_divergence(posterior, prior, log_posterior, log_prior), posterior, z,
                     rv_x)

    def log_weights(self, inputs, samples, seed=(0, 0)):
        """``log p(x|z_k) + log p(z_k) - log q(z_k|x)``, shape (samples, batch): the
        importance weights whose log-mean-exp estimates log p(x) (``zoo.evaluate``)."""
        return self.terms(inputs, samples, seed).log_weights

    def objective_values(self, inputs, training=False):
        """The objective on a batch: per-example ``loss``, ``neg_elbo``, ``reconstruction``
        and ``kl`` in nats. ``training=True`` draws the training noise and advances
        ``step``, as a training step does; for a GradientTape loop of your own::

            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(model.objective_values(x, training=True)["loss"])
        """
        if training:
            seed, warmup = self._training_noise()
        else:
            counter = tf.cast(compat.test_batches_run(self), tf.int64)
            seed, warmup = self._noise_seed(_EVALUATION_NOISE, self.step, counter), 1.0
        return self.objective(self, inputs, seed, warmup, training)

    def train_step(self, data):
        inputs = self.model_inputs(*tf_keras.utils.unpack_x_y_sample_weight(data)[:2])
        with tf.GradientTape() as tape:
            values = self.objective_values(inputs, training=True)
            loss = global_mean(values["loss"]) + self._regularization()
        self.optimizer.minimize(loss, self.trainable_variables, tape=tape)
        return self._tracked(values)

    def _regularization(self):
        """The layers' regularization losses (none in the zoo's own layers), scaled for the
        replicas."""
        return tf.nn.scale_regularization_loss(tf.add_n(self.losses)) if self.losses else 0.0

    def test_step(self, data):
        inputs = self.model_inputs(*tf_keras.utils.unpack_x_y_sample_weight(data)[:2])
        return self._tracked(self.objective_values(inputs, training=False))

    def predict_step(self, data):
        inputs = self.model_inputs(*tf_keras.utils.unpack_x_y_sample_weight(data)[:2])
        return tf.convert_to_tensor(self(inputs, training=False))  # the likelihood's tensor

    def _tracked(self, values):
        for tracker in self.trackers:
            tracker.update_state(values[tracker.name])
        return {tracker.name: tracker.result() for tracker in self.trackers}

    def _training_noise(self):
        """The seed of this training step's noise and its KL warm-up factor; advances
        ``step``."""
        step = self.step.read_value()
        seed = self._noise_seed(_TRAINING_NOISE, step)
        warmup = 1.0
        if self.kl_warmup_steps:
            warmup = tf.minimum(1.0, tf.cast(step, tf.float32) / self.kl_warmup_steps)
        with tf.control_dependencies([seed, warmup]):
            self.step.assign_add(1)
        return seed, warmup

    def _noise_seed(self, stream, *keys):
        seed = tf.constant([self.seed, stream], tf.int64)
        for key in keys:
            seed = tf.random.experimental.stateless_fold_in(seed, tf.cast(key, tf.int64))
        return seed

    def compile(self, optimizer=None, *, learning_rate=1e-3, kl_warmup_steps=0,
                steps_per_execution=STEPS_PER_EXECUTION, **kwargs):
        """Keras's compile; ``optimizer`` defaults to ``ADAM(learning_rate)``. The loss and
        metrics are the objective's."""
        for name in ("loss", "metrics", "loss_weights", "weighted_metrics"):
            if kwargs.get(name) is not None:
                raise ConfigError(f"compile({name}=...) is not for zoo models: the loss is "
                                  "the model's objective and the metrics are loss, "
                                  "neg_elbo, reconstruction, kl and the objective's own")
        self._requested_steps_per_execution = steps_per_execution  # what a file keeps
        if (getattr(self.objective, "gathers_rows", False)
                and self.distribute_strategy.num_replicas_in_sync > 1):
            steps_per_execution = 1  # see BetaTC.gathers_rows
        super().compile(optimizer=optimizer or ADAM(learning_rate),
                        steps_per_execution=steps_per_execution, **kwargs)
        self.kl_warmup_steps = kl_warmup_steps

    def compile_settings(self):
        """``kl_warmup_steps`` and the ``steps_per_execution`` asked for, as a ``.keras``
        file keeps them (KerasSteps)."""
        return {"kl_warmup_steps": self.kl_warmup_steps,
                "steps_per_execution": self._requested_steps_per_execution}

    def get_config(self):
        """The builder's name and overrides (``zoo_config``) and the noise seed: all
        ``from_config`` needs to rebuild the model, as ``zoo.get`` does (the architecture
        is the registered builder's, like a ``keras.applications`` model's)."""
        if self.zoo_config is None:
            raise ConfigError(_HAND_BUILT)
        config = {"builder": self.zoo_config["name"],
                  "overrides": dict(self.zoo_config["overrides"]), "seed": self.seed}
        # a plugin's builder's module (imported again on load); the mixed policy it was
        # built under (rebuilt under it)
        for key in ("module", "dtype_policy"):
            if key in self.zoo_config:
                config[key] = self.zoo_config[key]
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        from zoo.models import registry  # with every family registered
        model = registry.rebuild({"name": config["builder"], "overrides": config["overrides"],
                                  "module": config.get("module"),
                                  "dtype_policy": config.get("dtype_policy")})
        model.reseeded(config["seed"])
        return model

    def save(self, filepath, *args, save_format=None, **kwargs):
        """Keras's ``save`` in its ``.keras`` format (the architecture as the builder's
        name and overrides, the weights, the optimizer and its state). The other formats
        are refused at once: HDF5 holds only Functional and Sequential models; for a
        TensorFlow SavedModel to serve, ``zoo.export``."""
        path = str(filepath)
        if save_format in ("h5", "tf") or not path.endswith(".keras"):
            raise ConfigError(f"{path}: zoo models save whole as .keras (model.save("
                              "'model.keras'), loaded by tf_keras.models.load_model after "
                              "import zoo); for a SavedModel to serve, zoo.export(model, "
                              "folder); for weights alone, model.save_weights")
        if self.zoo_config is None:
            raise ConfigError(_HAND_BUILT)
        if "://" in path:  # gs://..., Keras's own remote writing
            return super().save(filepath, *args, save_format=save_format, **kwargs)
        if not kwargs.get("overwrite", True) and os.path.exists(path):
            raise ConfigError(f"{path} exists; pass overwrite=True or pick another path")
        with files.writing(path), files.atomic_path(path) as partial:  # whole or not at all
            return super().save(partial, *args, save_format=save_format, **kwargs)

    def checked(self, x, what="data"):
        """``x`` after checking it holds images this model takes: shape, and values its
        likelihood models (``zoo.checks``); a one-line DataError otherwise."""
        return checked_images(x, self.image_shape, what, self.data_kind)

    def fit(self, x=None, y=None, *args, validation_data=None, **kwargs):
        x = self.checked(x, "training data")
        if self.data_kind == "binary":
            x = warn_if_grey(x)
        if isinstance(validation_data, tuple):
            validation_data = (self.checked(validation_data[0], "validation data"),
                               *validation_data[1:])
        elif validation_data is not None:
            validation_data = self.checked(validation_data, "validation data")
            if not isinstance(validation_data, tf.data.Dataset):
                validation_data = (validation_data,)  # images alone: Keras wants a tuple
        self.create_optimizer_variables()
        with reported_as_data_errors("training or validation data", self.data_kind):
            return super().fit(x, y, *args, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, *args, **kwargs):
        x = self.checked(x, "evaluation data")
        with reported_as_data_errors("evaluation data", self.data_kind):
            return super().evaluate(x, y, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        x = self.checked(x, "prediction data")
        with reported_as_data_errors("prediction data", self.data_kind):
            return super().predict(x, *args, **kwargs)

    def reseeded(self, seed):
        """Draws posterior noise from ``seed`` from now on (a reloaded model takes its
        saved seed): Keras's traced step functions, which hold the old one, are dropped."""
        self.seed = seed
        self.drop_step_functions()
