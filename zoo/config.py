"""The run configuration: everything that defines a training run (``RunConfig``), and the
run resolved once (``Plan``: checked, its builder, dataset, overrides and example counts).
A leaf of the stages: recipes, ``zoo train``, ``zoo tune`` and the tuners build a
``RunConfig``; its Plan is what ``zoo.train``, the tuner's trials and the bench run carry
out.
"""

import dataclasses
import functools
import os

from zoo import data, datasets, precision
from zoo.errors import ConfigError, require_int
from zoo.models.registry import Builder, builder

SCHEDULES = ("constant", "cosine", "plateau")
MONITORS = ("val_neg_elbo", "val_loss")
OPTIMIZERS = ("adam", "adamax", "rmsprop", "sgd")
# The default batch size, and Keras's own for a small training split: one of fewer than
# SMALL_DATA_STEPS batches of BATCH_SIZE an epoch (README's colour squares: 4,000 images, 8
# epochs: 256 steps of 128 reconstructed backgrounds only, 1,000 of 32 the squares).
BATCH_SIZE, SMALL_DATA_BATCH_SIZE, SMALL_DATA_STEPS = 128, 32, 100


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run; recorded in the run folder's ``run.json``.

    ``learning_rate_schedule``: ``constant``; ``cosine`` decay to 0 over ``epochs``;
    ``plateau``: halve it when ``monitor`` stalls for 5 epochs.
    ``kl_warmup_epochs``: the KL weight rises linearly from 0 to beta over these epochs,
    step by step (Sønderby et al. 2016; 0: off); a function of the model's ``step``, in
    the graph. ``early_stopping_patience``: stop when
    ``monitor`` has not improved for that many epochs and keep the best weights (0: off).
    ``monitor``: the validation number that the plateau schedule, early stopping and the
    run folder's best weights watch: ``val_neg_elbo``, the -ELBO in nats, or ``val_loss``,
    the model's own objective at full KL weight (the k-sample bound for an IWAE, the
    beta-weighted loss for a beta-VAE); None: the builder's (``Builder.monitor``: the
    -ELBO, or the loss of a model without one, an autoencoder's), recorded as resolved.
    ``optimizer``: one of OPTIMIZERS, with the model's ``learning_rate`` override.
    ``log_likelihood_samples``: K for the test log-likelihood (0: not estimated).
    ``batch_size``: examples per (global) batch; None: BATCH_SIZE (128), or
    SMALL_DATA_BATCH_SIZE (32, Keras's default) for a dataset the zoo does not name trained
    on fewer than SMALL_DATA_STEPS batches of 128 (12,800 images; ``train_examples`` where
    set), so that a short run on a few thousand images takes enough optimizer steps to use
    its code.
    ``deterministic``: TensorFlow's deterministic ops
    (``tf.config.experimental.enable_op_determinism``, process-wide). With them the same seed
    on the same hardware gives the same numbers bit for bit, also in another process (a
    resumed run, a second run; benchmarks/determinism.py records it): the data order, the
    dynamic binarization and the posterior noise are stateless functions of the seed and
    the step, and the optimizers are tf_keras's fused ones (see zoo.models.vae).
    ``jit_compile``: compile the training and evaluation steps with XLA.
    ``mixed_precision``: build the model under Keras's ``mixed_bfloat16`` policy where the
    machine computes bfloat16 natively: the encoder's and decoder's bodies compute in
    bfloat16 with float32 weights, the distributions, KL and objective in float32
    (``zoo.precision``); where it does not, the run says so in one line and trains under
    ``mixed_float16`` with its losses scaled (a GPU of compute capability 7.x) or in
    float32. The run's metrics record the policy it trained under (``dtype_policy``).
    ``train_examples``: train on the first this many examples of the train split (a quick
    run, a learning curve; 0: all of them).
    ``eval_examples``: validate every epoch and test at the end on the first this many
    examples of the validation and test splits (a quick run; 0: all of them, as benchmark
    rows do). The test metrics record how many examples they cover.
    ``dataset``: a name the zoo knows, any tfds dataset with an image feature, or a folder
    of images (``zoo.datasets``). ``image_size``: (height, width) (or one int for both) to
    resize its images to, centre-cropped to that aspect ratio first (None: as stored).
    """

    model: str
    overrides: dict = dataclasses.field(default_factory=dict)
    dataset: str = "binarized_mnist"
    binarization: str = None
    epochs: int = 10
    batch_size: int = None
    seed: int = 0
    eval_samples: int = 10
    log_likelihood_samples: int = 0
    optimizer: str = "adam"
    learning_rate_schedule: str = "constant"
    kl_warmup_epochs: int = 0
    early_stopping_patience: int = 0
    monitor: str = None
    deterministic: bool = False
    jit_compile: bool = False
    mixed_precision: bool = False
    train_examples: int = 0
    eval_examples: int = 0
    image_size: tuple = None

    @classmethod
    def of_settings(cls, settings):
        """The RunConfig of a record's ``settings`` (run.json, a result file's recipe): its
        keys that are RunConfig fields; the others (a recipe's reference) left out."""
        return cls(**{key: value for key, value in settings.items()
                      if key in cls.__dataclass_fields__})

    def resolved(self):
        """A copy with every setting checked and the overrides and binarization explicit."""
        return self.plan().config

    def plan(self, manual_dir=None, data_dir=None):
        """This run resolved once (a Plan): every setting checked and the builder looked
        up, its overrides checked; the dataset (in ``manual_dir``, ``data_dir``) is read at
        the Plan's first use of it."""
        for name in ("epochs", "batch_size", "eval_samples"):
            if name != "batch_size" or self.batch_size is not None:
                require_int(name, getattr(self, name), minimum=1)
        for name in ("seed", "log_likelihood_samples", "kl_warmup_epochs",
                     "early_stopping_patience", "train_examples", "eval_examples"):
            require_int(name, getattr(self, name), minimum=0)
        for name in ("deterministic", "jit_compile", "mixed_precision"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name, choices in (("optimizer", OPTIMIZERS), ("learning_rate_schedule", SCHEDULES),
                              ("monitor", MONITORS)):
            if getattr(self, name) not in choices and (name, getattr(self, name)) != (
                    "monitor", None):
                raise ConfigError(f"{name} must be one of {', '.join(choices)}, "
                                  f"got {getattr(self, name)!r}")
        return Plan.of(self, builder(self.model), manual_dir, data_dir)


@dataclasses.dataclass(frozen=True)
class Plan:
    """A run resolved once: what ``zoo.train``, the tuner's trials and the bench run hand
    down, and no stage derives again.

    ``settings``: the RunConfig as given, its settings and overrides checked; ``builder``:
    its registered Builder; ``manual_dir``, ``data_dir``: where its data are. Resolved at
    first use, once: ``dataset``, its DatasetSpec (``zoo.datasets``: a tfds dataset is
    prepared, a folder read); ``config``, the RunConfig as the run records it (run.json):
    the binarization and batch size explicit, the image size (H, W), a folder's path
    absolute;
    ``examples``, each split's number of examples (the first ``train_examples`` or
    ``eval_examples`` where set); ``learning_rate``, the model's override or default.
    """

    settings: RunConfig
    builder: Builder
    manual_dir: str = None
    data_dir: str = None

    @classmethod
    def of(cls, settings, entry, manual_dir=None, data_dir=None):
        """The Plan of ``settings`` (a RunConfig whose settings are checked) with its Builder
        ``entry``: its overrides and image size checked."""
        if settings.monitor == "val_neg_elbo" and not entry.elbo:
            raise ConfigError(f"monitor val_neg_elbo: {entry.name} has no ELBO (its codes are "
                              "a point mass); leave monitor unset or use val_loss")
        settings = dataclasses.replace(settings, overrides=entry.validate(settings.overrides),
                                       image_size=datasets.image_size_of(settings.image_size),
                                       monitor=settings.monitor or entry.monitor)
        return cls(settings, entry, manual_dir, data_dir)

    @property
    def read_from(self):
        """``{"manual_dir": ..., "data_dir": ...}``: the folders given, absolute (None: not
        given), as a run records them for ``zoo eval`` and ``zoo plot`` to read its data
        from again (``zoo.sources``)."""
        return {name: os.path.abspath(os.path.expanduser(folder)) if folder else None
                for name, folder in (("manual_dir", self.manual_dir),
                                     ("data_dir", self.data_dir))}

    def reading(self, manual_dir=None, data_dir=None):
        """This plan reading its data from ``manual_dir`` and ``data_dir``."""
        if (manual_dir, data_dir) == (self.manual_dir, self.data_dir):
            return self
        return dataclasses.replace(self, manual_dir=manual_dir, data_dir=data_dir)

    def trial(self, overrides, batch_size):
        """This plan with more ``overrides`` and another ``batch_size`` (a tuner's trial):
        the new overrides checked, the rest as resolved, the dataset and counts kept."""
        settings = dataclasses.replace(self.settings, batch_size=batch_size,
                                       overrides={**self.settings.overrides, **overrides})
        made = Plan.of(settings, self.builder, self.manual_dir, self.data_dir)
        for kept in ("dataset", "examples"):  # resolved already: the same for every trial
            if kept in self.__dict__:
                made.__dict__[kept] = self.__dict__[kept]
        return made

    @functools.cached_property
    def dataset(self):
        """The run's DatasetSpec (``zoo.datasets.spec``), resolved once."""
        return datasets.spec(self.settings.dataset, self.settings.image_size, self.manual_dir,
                             self.data_dir)

    @functools.cached_property
    def likelihood(self):
        """The model's likelihood: the run's override, else what the data call for (8-bit
        levels: the discretized logistic mixture) where the builder takes one, else the
        builder's default; None for a builder without a ``likelihood`` parameter."""
        if "likelihood" not in self.builder.fields:
            return None
        return self.settings.overrides.get("likelihood", self.dataset.default_likelihood
                                           or self.builder.fields["likelihood"].default)

    @functools.cached_property
    def config(self):
        """The RunConfig as the run records it (see the class docstring); a Bernoulli
        decoder on 8-bit levels of a dataset the zoo does not name is refused."""
        dataset = self.dataset
        binarization = datasets.binarization_for(
            dataset, self.settings.binarization,
            grey=self.likelihood not in (None, "bernoulli"))
        if self.likelihood == "bernoulli" and binarization == "none" and not dataset.named:
            kind = "grey" if dataset.shape[-1] == 1 else "colour"
            raise ConfigError(
                f"likelihood bernoulli models binary pixels, and {dataset.name}'s are 8-bit "
                f"{kind} levels: use likelihood=logistic_mixture (their default), gaussian "
                "or continuous_bernoulli" + (", or binarize them (binarization dynamic or "
                                             "static)" if kind == "grey" else ""))
        return dataclasses.replace(self.settings, binarization=binarization,
                                   dataset=dataset.name,
                                   batch_size=self.settings.batch_size or self._batch_size())

    def _batch_size(self):
        """The default batch size of the run's data (see RunConfig's ``batch_size``)."""
        if self.dataset.named:  # 50,000 training images or more
            return BATCH_SIZE
        return (BATCH_SIZE if self.examples["train"] >= SMALL_DATA_STEPS * BATCH_SIZE
                else SMALL_DATA_BATCH_SIZE)

    @functools.cached_property
    def learning_rate(self):
        """The initial learning rate: the model's ``learning_rate`` override or default."""
        return self.settings.overrides.get(
            "learning_rate", self.builder.defaults().get("learning_rate", 1e-3))

    @functools.cached_property
    def examples(self):
        """``{"train": n, "validation": n, "test": n}``: the examples each split gives the
        run; a DataError (one line) where ``train_examples`` or ``eval_examples`` asks for
        more than a split has. Counted once; prepares the dataset where needed."""
        return {split: data.examples_in(self.dataset, split, self.manual_dir, self.data_dir,
                                        first=self._first(split), setting=setting)
                for split, setting in (("train", "train_examples"),
                                       ("validation", "eval_examples"),
                                       ("test", "eval_examples"))}

    @property
    def steps_per_epoch(self):
        """Training batches in one pass over the training examples."""
        return data.batches_per_pass(self.examples["train"], self.config.batch_size)

    def load(self, split, **kwargs):
        """``data.load`` of ``split`` with this run's dataset, batch size, binarization and
        seed (and ``train_examples`` of the train split, ``eval_examples`` of the others)."""
        return data.load(self.dataset, split, self.config.batch_size,
                         binarization=self.config.binarization, seed=self.config.seed,
                         manual_dir=self.manual_dir, data_dir=self.data_dir,
                         first=self._first(split), **kwargs)

    def model_overrides(self, training_examples=None, from_data=True):
        """The overrides the model is built with: the run's, and, where the run leaves them
        unset, ``training_examples`` for each builder parameter that is the training set's
        size (``TrainingSetSize``: beta_tcvae's ``dataset_size``), and what the data imply
        where it is not the builder's default: the image shape for ``input_shape`` (sprites'
        64x64, colour images' channels), the number of classes for ``classes``, the
        likelihood 8-bit levels call for (``from_data=False``: not these three, for data of
        the caller's own). The model's own config (model.json, a ``.keras`` file) records
        the values."""
        implied = {}
        if training_examples is not None:
            implied.update({name: training_examples
                            for name in self.builder.training_set_size_fields()})
        defaults = self.builder.defaults()
        implied_by_data = {"input_shape": self.dataset.shape, "likelihood": self.likelihood,
                           "classes": len(self.dataset.class_names or ()) or None}
        for name, value in implied_by_data.items() if from_data else ():
            if name in defaults and value is not None and (
                    tuple(defaults[name]) if isinstance(value, tuple)
                    else defaults[name]) != value:
                implied[name] = value
        implied = self.builder.validate({name: value for name, value in implied.items()
                                         if name not in self.config.overrides})
        return {**implied, **self.config.overrides}  # (the run's: checked when resolved)

    @functools.cached_property
    def precision(self):
        """``(policy, note)``: the Keras dtype policy the run's model is built under --
        where ``mixed_precision`` is set, the machine's (``precision.choice``:
        ``mixed_bfloat16`` where it computes bfloat16 natively, else ``mixed_float16`` or
        ``float32``, ``note`` then saying why in one line), None where it is not set (the
        global policy, as the caller left it) -- resolved once."""
        if not self.settings.mixed_precision:
            return None, None
        return precision.choice()

    def model(self, training_examples=None, from_data=True):
        """The run's model (built in the caller's strategy scope and under its
        ``precision`` policy), with ``model_overrides(training_examples, from_data)``."""
        with precision.policy(self.precision[0]):
            return self.builder.model(self.model_overrides(training_examples, from_data))

    def _first(self, split):
        settings = self.settings
        first = settings.train_examples if split == "train" else settings.eval_examples
        return first or None
