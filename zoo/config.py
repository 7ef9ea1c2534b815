"""The run configuration: everything that defines a training run, checked, and what it
reads of its dataset. A leaf of the stages: recipes, ``zoo train``, ``zoo tune`` and the
tuners build a ``RunConfig``; ``zoo.train`` carries it out.
"""

import dataclasses

from zoo import data
from zoo.errors import ConfigError, require_int
from zoo.models.registry import builder

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

    def resolved(self):
        """A copy with every setting checked and the overrides and binarization explicit."""
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
        overrides = builder(self.model).validate(self.overrides)
        likelihood = {**builder(self.model).defaults(), **overrides}.get("likelihood")
        binarization = data.binarization_for(self.dataset, self.binarization,
                                             grey=likelihood not in (None, "bernoulli"))
        return dataclasses.replace(self, overrides=overrides, binarization=binarization)

    def learning_rate(self):
        """The initial learning rate: the model's ``learning_rate`` override or default."""
        return self.overrides.get("learning_rate",
                                  builder(self.model).defaults().get("learning_rate", 1e-3))

    def load(self, split, manual_dir=None, data_dir=None, **kwargs):
        """``data.load`` of ``split`` with this run's dataset, batch size, binarization and
        seed (and ``train_examples`` of the train split, ``eval_examples`` of the others)."""
        return data.load(self.dataset, split, self.batch_size, binarization=self.binarization,
                         seed=self.seed, manual_dir=manual_dir, data_dir=data_dir,
                         first=self._first(split), **kwargs)

    def training_examples(self, manual_dir=None, data_dir=None):
        """The examples trained on: the (first ``train_examples`` of the) train split."""
        return data.examples_in(self.dataset, "train", manual_dir, data_dir,
                                first=self._first("train"), setting="train_examples")

    def steps_per_epoch(self, manual_dir=None, data_dir=None):
        """Training batches in one pass over the (first ``train_examples`` of the) train
        split."""
        return data.batches_per_pass(self.training_examples(manual_dir, data_dir),
                                     self.batch_size)

    def model_overrides(self, training_examples=None):
        """The overrides the model is built with: the run's, and, where the run leaves them
        unset, ``training_examples`` for each builder parameter that is the training set's
        size (``TrainingSetSize``: beta_tcvae's ``dataset_size``) and the dataset's image
        shape for ``input_shape`` where it is not the builder's default (sprites' 64x64).
        The model's own config (model.json, a ``.keras`` file) records the values."""
        made = builder(self.model)
        implied = {}
        if training_examples is not None:
            implied.update({name: training_examples for name in made.training_set_size_fields()})
        shape = data.spec(self.dataset).shape
        if tuple(made.defaults().get("input_shape", shape)) != shape:
            implied["input_shape"] = shape
        return {**implied, **self.overrides}

    def _first(self, split):
        return (self.train_examples if split == "train" else self.eval_examples) or None

    def check_examples(self, manual_dir=None, data_dir=None):
        """Raises DataError (one line) if ``train_examples`` or ``eval_examples`` asks for
        more examples than a split has; prepares the dataset if needed."""
        for split, setting in (("train", "train_examples"), ("validation", "eval_examples"),
                               ("test", "eval_examples")):
            data.examples_in(self.dataset, split, manual_dir, data_dir,
                             first=self._first(split), setting=setting)
