"""The run configuration: everything that defines a training run (``RunConfig``), and the
run resolved once (``Plan``: checked, its builder, dataset, overrides and example counts).
A leaf of the stages: recipes, ``zoo train``, ``zoo tune`` and the tuners build a
``RunConfig``; its Plan is what ``zoo.train``, the tuner's trials and the bench run carry
out.
"""

import dataclasses
import functools

from zoo import data
from zoo.errors import ConfigError, require_int
from zoo.models.registry import Builder, builder

SCHEDULES = ("constant", "cosine", "plateau")
MONITORS = ("val_neg_elbo", "val_loss")
OPTIMIZERS = ("adam", "adamax", "rmsprop", "sgd")


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
    beta-weighted loss for a beta-VAE). ``optimizer``: one of OPTIMIZERS, with the model's
    ``learning_rate`` override.
    ``log_likelihood_samples``: K for the test log-likelihood (0: not estimated).
    ``deterministic``: TensorFlow's deterministic ops
    (``tf.config.experimental.enable_op_determinism``, process-wide). With them the same seed
    on the same hardware gives the same numbers bit for bit, also in another process (a
    resumed run, a second run; benchmarks/determinism.py records it): the data order, the
    dynamic binarization and the posterior noise are stateless functions of the seed and
    the step, and the optimizers are tf_keras's fused ones (see zoo.models.vae).
    ``jit_compile``: compile the training and evaluation steps with XLA.
    ``train_examples``: train on the first this many examples of the train split (a quick
    run, a learning curve; 0: all of them).
    ``eval_examples``: validate every epoch and test at the end on the first this many
    examples of the validation and test splits (a quick run; 0: all of them, as benchmark
    rows do). The test metrics record how many examples they cover.
    """

    model: str
    overrides: dict = dataclasses.field(default_factory=dict)
    dataset: str = "binarized_mnist"
    binarization: str = None
    epochs: int = 10
    batch_size: int = 128
    seed: int = 0
    eval_samples: int = 10
    log_likelihood_samples: int = 0
    optimizer: str = "adam"
    learning_rate_schedule: str = "constant"
    kl_warmup_epochs: int = 0
    early_stopping_patience: int = 0
    monitor: str = "val_neg_elbo"
    deterministic: bool = False
    jit_compile: bool = False
    train_examples: int = 0
    eval_examples: int = 0

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
        """This run resolved once (a Plan): every setting checked, the builder and the
        dataset looked up, the overrides checked and the binarization explicit; the data
        (``manual_dir``, ``data_dir``) are read at the Plan's first count."""
        for name in ("epochs", "batch_size", "eval_samples"):
            require_int(name, getattr(self, name), minimum=1)
        for name in ("seed", "log_likelihood_samples", "kl_warmup_epochs",
                     "early_stopping_patience", "train_examples", "eval_examples"):
            require_int(name, getattr(self, name), minimum=0)
        for name in ("deterministic", "jit_compile"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be True or False, got {getattr(self, name)!r}")
        for name, choices in (("optimizer", OPTIMIZERS), ("learning_rate_schedule", SCHEDULES),
                              ("monitor", MONITORS)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"{name} must be one of {', '.join(choices)}, "
                                  f"got {getattr(self, name)!r}")
        return Plan.of(self, builder(self.model), data.spec(self.dataset), manual_dir,
                       data_dir)


@dataclasses.dataclass(frozen=True)
class Plan:
    """A run resolved once: what ``zoo.train``, the tuner's trials and the bench run hand
    down, and no stage derives again.

    ``config``: the RunConfig, checked, its overrides checked and its binarization explicit
    (what ``run.json`` records); ``builder``: its registered Builder; ``dataset``: its
    DatasetSpec; ``learning_rate``: the model's ``learning_rate`` override or default;
    ``manual_dir``, ``data_dir``: where its data are. ``examples``, each split's number of
    examples (the first ``train_examples`` or ``eval_examples`` where set), is counted once,
    at its first use, which prepares the data.
    """

    config: RunConfig
    builder: Builder
    dataset: data.DatasetSpec
    learning_rate: float
    manual_dir: str = None
    data_dir: str = None

    @classmethod
    def of(cls, config, entry, dataset, manual_dir=None, data_dir=None):
        """The Plan of ``config`` (its settings checked) with its ``entry`` and ``dataset``:
        the overrides checked against the builder, the binarization the data and the
        likelihood call for."""
        overrides = entry.validate(config.overrides)
        settings = {**entry.defaults(), **overrides}
        binarization = data.binarization_for(
            dataset, config.binarization,
            grey=settings.get("likelihood") not in (None, "bernoulli"))
        config = dataclasses.replace(config, overrides=overrides, binarization=binarization)
        return cls(config, entry, dataset, settings.get("learning_rate", 1e-3), manual_dir,
                   data_dir)

    def reading(self, manual_dir=None, data_dir=None):
        """This plan reading its data from ``manual_dir`` and ``data_dir``."""
        if (manual_dir, data_dir) == (self.manual_dir, self.data_dir):
            return self
        return dataclasses.replace(self, manual_dir=manual_dir, data_dir=data_dir)

    def trial(self, overrides, batch_size):
        """This plan with more ``overrides`` and another ``batch_size`` (a tuner's trial):
        the new overrides checked, the rest as resolved, the counts kept."""
        config = dataclasses.replace(self.config, overrides={**self.config.overrides,
                                                             **overrides},
                                     batch_size=batch_size)
        made = Plan.of(config, self.builder, self.dataset, self.manual_dir, self.data_dir)
        if "examples" in self.__dict__:  # counted already: the same for every trial
            made.__dict__["examples"] = self.examples
        return made

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

    def model_overrides(self, training_examples=None):
        """The overrides the model is built with: the run's, and, where the run leaves them
        unset, ``training_examples`` for each builder parameter that is the training set's
        size (``TrainingSetSize``: beta_tcvae's ``dataset_size``) and the dataset's image
        shape for ``input_shape`` where it is not the builder's default (sprites' 64x64).
        The model's own config (model.json, a ``.keras`` file) records the values."""
        implied = {}
        if training_examples is not None:
            implied.update({name: training_examples
                            for name in self.builder.training_set_size_fields()})
        shape = self.dataset.shape
        if tuple(self.builder.defaults().get("input_shape", shape)) != shape:
            implied["input_shape"] = shape
        implied = self.builder.validate({name: value for name, value in implied.items()
                                         if name not in self.config.overrides})
        return {**implied, **self.config.overrides}  # (the run's: checked when resolved)

    def model(self, training_examples=None):
        """The run's model (built in the caller's strategy scope), with
        ``model_overrides(training_examples)``."""
        return self.builder.model(self.model_overrides(training_examples))

    def _first(self, split):
        first = self.config.train_examples if split == "train" else self.config.eval_examples
        return first or None
