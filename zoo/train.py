"""Training: ``model.fit`` on tfds pipelines under the process's distribution strategy.

``train`` runs the whole job: dataset -> model (built in ``strategy().scope()``) -> fit
-> test evaluation -> run folder.
"""

import contextlib
import dataclasses
import functools
import math
import os
import pathlib
import time

import tensorflow as tf
import tf_keras

from zoo import checks, data, runs
from zoo.errors import ConfigError, NonFiniteLossError, ShortEpochError, require_int
from zoo.evaluate import evaluate
from zoo.models import vae
from zoo.models.registry import builder, get


@functools.cache
def strategy():
    """The one ``tf.distribute`` strategy of this process, created on first use.

    MultiWorkerMirroredStrategy when ``TF_CONFIG`` is set; MirroredStrategy over all GPUs
    when there are several, or over the logical CPUs when ``cpu_replicas`` split the CPU
    (no GPU); else the default single-device strategy. Cached because a second
    MirroredStrategy in one process breaks its collectives.
    """
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy()
    cpus = tf.config.list_logical_devices("CPU")
    if not gpus and len(cpus) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in cpus])
    return tf.distribute.get_strategy()


def active_strategy():
    """The strategy a run trains under: one the caller entered (``with s.scope():``; a
    TPUStrategy, say), else the process's own (``strategy()``)."""
    return tf.distribute.get_strategy() if tf.distribute.has_strategy() else strategy()


def strategy_name(distribution):
    """The name users know a strategy by (MultiWorkerMirroredStrategy's class is
    CollectiveAllReduceStrategy; no strategy entered: the default one)."""
    if isinstance(distribution, tf.distribute.MultiWorkerMirroredStrategy):
        return "MultiWorkerMirroredStrategy"
    name = type(distribution).__name__
    return "the default strategy" if name.startswith("_Default") else name


class StopOnNonFiniteLoss(tf_keras.callbacks.Callback):
    """Stops training with a NonFiniteLossError naming the epoch, batch and loss term."""

    TERMS = ("reconstruction", "kl", "loss")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        self._check(logs, "", f"epoch {self.epoch + 1}, batch {batch + 1}")

    def on_epoch_end(self, epoch, logs=None):
        self._check(logs, "val_", f"epoch {epoch + 1}, validation")

    def _check(self, logs, prefix, where):
        logs = logs or {}
        for term in self.TERMS:
            value = logs.get(prefix + term)
            if value is not None and not math.isfinite(value):
                self.model.stop_training = True
                raise NonFiniteLossError(
                    f"training stopped at {where}: the {term} term is {value} "
                    f"({', '.join(f'{t}={logs.get(prefix + t)}' for t in self.TERMS)}); "
                    "lower the learning rate or check the data")


class FullEpochs(tf_keras.callbacks.Callback):
    """Stops training with a ShortEpochError when an epoch trains other than ``steps``
    optimizer steps (its input ran out, or skipped steps): Keras alone warns and ends the
    run as if it had finished."""

    def __init__(self, steps):
        super().__init__()
        self.steps = steps

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.started_at = epoch, int(self.model.optimizer.iterations.numpy())

    def on_epoch_end(self, epoch, logs=None):
        done = int(self.model.optimizer.iterations.numpy()) - self.started_at
        if done != self.steps or not logs:
            self.model.stop_training = True
            raise self.error(done)

    def error(self, done):
        distribution = self.model.distribute_strategy
        replicas = distribution.num_replicas_in_sync
        return ShortEpochError(
            f"epoch {self.epoch + 1} trained {done} of its {self.steps} steps under "
            f"{strategy_name(distribution)} ({replicas} replica{'s' * (replicas > 1)}): its "
            "input ran short, and the run is not finished; report it with the command")

    @classmethod
    def fit(cls, model, data, steps, callbacks=(), **kwargs):
        """``model.fit(data, steps_per_epoch=steps, ...)`` stopped by a short epoch; an
        epoch with no step at all (Keras: "Unexpected result of train_function (Empty
        logs)") is one too."""
        check = cls(steps)
        try:
            return model.fit(data, steps_per_epoch=steps, callbacks=[check, *callbacks],
                             **kwargs)
        except ValueError as error:
            if "Empty logs" not in str(error):
                raise
            raise check.error(0) from None


class ClaimRunFolder(tf_keras.callbacks.Callback):
    """Claims the run folder (``runs.claim``: run.json, and with ``overwrite`` the old
    files removed) when training starts, on the chief: a run that fails before, on its
    data or model, leaves nothing behind, and the corrected command is not refused."""

    def __init__(self, folder, record, overwrite):
        super().__init__()
        self.folder, self.record, self.overwrite = folder, record, overwrite

    def on_train_begin(self, logs=None):
        if runs.is_chief():
            runs.claim(self.folder, self.record, overwrite=self.overwrite)


class EpochLog(tf_keras.callbacks.Callback):
    """Every epoch's logs and seconds, for the whole run: Keras's History holds only the
    epochs of one ``fit`` call, so a run resumed from its backup would report the last few.
    With ``path`` (in the run folder) the record survives a crash, and a resumed run says
    where it resumes."""

    def __init__(self, path=None):
        super().__init__()
        self.path = pathlib.Path(path) if path else None
        self.record, self.started = {"history": {}, "seconds": []}, None

    def on_train_begin(self, logs=None):
        if self.path and self.path.is_file():
            self.record = runs.read_json(self.path)
        self.first = True

    def on_epoch_begin(self, epoch, logs=None):
        if self.first:  # where fit starts: after the epochs BackupAndRestore restored
            self.first = False
            self.record["seconds"] = self.record["seconds"][:epoch]
            self.record["history"] = {name: values[:epoch]
                                      for name, values in self.record["history"].items()}
            if epoch:
                print(f"resuming at epoch {epoch + 1} (epochs 1-{epoch} were run before)")
        self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.record["history"].setdefault(name, []).append(float(value))
        self.record["seconds"].append(time.time() - self.started)
        if self.path and runs.is_chief():
            runs.write_json(self.path, self.record)


class BestWeights(tf_keras.callbacks.Callback):
    """Writes the weights (``runs.save_weights``: by path, atomically) whenever the epoch's
    ``monitor`` (the validation -ELBO by default) is the best so far (lowest; highest with
    ``direction="max"``). The file records that value, so a resumed run keeps a better
    earlier epoch. In a multi-worker run only the chief writes."""

    def __init__(self, path, monitor="val_neg_elbo", direction="min"):
        super().__init__()
        self.path, self.monitor = pathlib.Path(path), monitor
        self.sign = 1 if direction == "min" else -1

    def on_train_begin(self, logs=None):
        self.best = self.sign * runs.weights_attributes(self.path).get(
            self.monitor, self.sign * math.inf)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and self.sign * value < self.best:
            self.best = self.sign * value
            if runs.is_chief():
                runs.save_weights(self.model, self.path,
                                  {self.monitor: value, "epoch": epoch + 1})


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
        binarization = self.binarization
        likelihood = {**builder(self.model).defaults(), **overrides}.get("likelihood")
        if (binarization is None and likelihood not in (None, "bernoulli")
                and "none" in data.spec(self.dataset).binarizations):
            binarization = "none"  # grey levels for a likelihood of grey levels
        return dataclasses.replace(self, overrides=overrides,
                                   binarization=data.binarization_for(self.dataset,
                                                                      binarization))

    def callbacks(self):
        """The Keras callbacks that carry out the schedule, warm-up and early stopping."""
        callbacks = [StopOnNonFiniteLoss()]
        if self.learning_rate_schedule == "cosine":
            callbacks.append(tf_keras.callbacks.LearningRateScheduler(self._cosine))
        elif self.learning_rate_schedule == "plateau":
            callbacks.append(tf_keras.callbacks.ReduceLROnPlateau(
                monitor=self.monitor, factor=0.5, patience=5, min_lr=1e-5))
        if self.early_stopping_patience:
            callbacks.append(tf_keras.callbacks.EarlyStopping(
                monitor=self.monitor, patience=self.early_stopping_patience,
                restore_best_weights=True))
        return callbacks

    def learning_rate(self):
        """The initial learning rate: the model's ``learning_rate`` override or default."""
        return self.overrides.get("learning_rate",
                                  builder(self.model).defaults().get("learning_rate", 1e-3))

    def _cosine(self, epoch, learning_rate):
        del learning_rate
        return self.learning_rate() * 0.5 * (1 + math.cos(math.pi * epoch / self.epochs))

    def load(self, split, manual_dir=None, data_dir=None, **kwargs):
        """``data.load`` of ``split`` with this run's dataset, batch size, binarization and
        seed (and ``train_examples`` of the train split, ``eval_examples`` of the others)."""
        return data.load(self.dataset, split, self.batch_size, binarization=self.binarization,
                         seed=self.seed, manual_dir=manual_dir, data_dir=data_dir,
                         first=self._first(split), **kwargs)

    def training_data(self, model, distribution, manual_dir=None, data_dir=None):
        """The train split as ``model.fit`` takes it under ``distribution``, with
        ``steps_per_epoch()`` steps an epoch: passes without end (tf_keras never
        re-iterates a distributed dataset between epochs), each worker's pipeline giving
        every one of its replicas that replica's block of each global batch, in the order
        of the model's optimizer steps (so a resumed run sees the data of one never
        stopped)."""

        def per_worker(context):
            local = context.num_replicas_in_sync // context.num_input_pipelines
            return self.load("train", manual_dir, data_dir, labels=model.conditional,
                             order_key=model.optimizer.iterations, repeat=True,
                             replicas=(context.input_pipeline_id * local, local,
                                       context.num_replicas_in_sync))

        return distribution.distribute_datasets_from_function(per_worker)

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
        """The overrides the model is built with: the run's, and ``training_examples`` for
        each builder parameter that is the training set's size (``TrainingSetSize``:
        beta_tcvae's ``dataset_size``) which the run leaves unset. The model's own config
        (model.json, a ``.keras`` file) records the value."""
        sized = [name for name in builder(self.model).training_set_size_fields()
                 if name not in self.overrides]
        if training_examples is None or not sized:
            return dict(self.overrides)
        return {**{name: training_examples for name in sized}, **self.overrides}

    def _first(self, split):
        return (self.train_examples if split == "train" else self.eval_examples) or None

    def check_examples(self, manual_dir=None, data_dir=None):
        """Raises DataError (one line) if ``train_examples`` or ``eval_examples`` asks for
        more examples than a split has; prepares the dataset if needed."""
        for split, setting in (("train", "train_examples"), ("validation", "eval_examples"),
                               ("test", "eval_examples")):
            data.examples_in(self.dataset, split, manual_dir, data_dir,
                             first=self._first(split), setting=setting)

    def compiled(self, model, steps_per_epoch):
        """``model`` compiled for this run: ``optimizer`` at ``learning_rate()``, the KL
        warm-up over ``kl_warmup_epochs * steps_per_epoch`` steps, ``jit_compile``."""
        if self.optimizer == "adam":  # the builders' (benchmarks/determinism.py swaps it)
            optimizer = vae.ADAM(self.learning_rate())
        else:
            optimizer = tf_keras.optimizers.get(
                {"class_name": self.optimizer,
                 "config": {"learning_rate": self.learning_rate()}},
                use_legacy_optimizer=True)
        model.compile(optimizer=optimizer, jit_compile=self.jit_compile,
                      kl_warmup_steps=self.kl_warmup_epochs * steps_per_epoch)
        return model


def train(config, out=None, *, overwrite=False, manual_dir=None, data_dir=None,
          callbacks=(), verbose="auto"):
    """Trains ``config`` (a RunConfig), evaluates it on the test split, and returns
    ``(model, metrics)``; with ``out``, also writes the run folder (see zoo.runs).

    With ``out``, training is checkpointed after every epoch in ``OUT/backup`` (Keras
    BackupAndRestore): the same call after a crash or Ctrl-C resumes at the last finished
    epoch and ends with the numbers of a run never stopped. The best weights by ``config.monitor``
    are kept in ``OUT/best.h5``; ``model.h5`` holds the final ones (both written by
    ``runs.save_weights``).
    """
    # Made first: MultiWorkerMirroredStrategy must precede any other op.
    distribution = active_strategy()
    config = config.resolved()
    if (config.jit_compile and distribution.num_replicas_in_sync > 1
            and not tf.config.list_physical_devices("GPU")):
        raise ConfigError("jit_compile does not work with MirroredStrategy over CPU devices "
                          "(a TensorFlow limitation); train on one CPU device or on GPUs")
    record = dataclasses.asdict(config)
    folder = pathlib.Path(out) if out else None
    if folder and runs.is_chief():  # refused now; claimed once training starts
        runs.check_claim(folder, record, overwrite=overwrite)
    config.check_examples(manual_dir, data_dir)  # prepares the data; too many examples: now
    tf_keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    examples = config.training_examples(manual_dir, data_dir)
    steps = data.batches_per_pass(examples, config.batch_size)
    with distribution.scope():
        model = config.compiled(get(config.model, **config.model_overrides(examples)), steps)
    if model.data_kind == "binary" and config.binarization == "none":
        checks.warn_grey(f"{config.dataset} with binarization='none'")
    loader = functools.partial(config.load, manual_dir=manual_dir, data_dir=data_dir,
                               labels=model.conditional)  # (x, label) batches for a cvae
    train_data = config.training_data(model, distribution, manual_dir, data_dir)
    epoch_log = EpochLog(folder / runs.EPOCHS if folder else None)
    if folder:
        callbacks = [ClaimRunFolder(folder, record, overwrite),
                     *_checkpoints(folder, config.monitor),
                     epoch_log, *callbacks]
    else:
        callbacks = [epoch_log, *callbacks]
    environment = runs.environment()  # the code that runs: the commit now, not at the end
    replicas = {"strategy": strategy_name(distribution),
                "replicas": distribution.num_replicas_in_sync}
    if verbose != 0 and replicas["replicas"] > 1:
        print(f"training on {replicas['replicas']} replicas ({replicas['strategy']}); the "
              f"global batch of {config.batch_size} is split over them")
    FullEpochs.fit(model, train_data, steps, [*config.callbacks(), *callbacks],
                   validation_data=loader("validation"), epochs=config.epochs, verbose=verbose)
    started = time.time()
    test = evaluate(model, loader("test"), samples=config.eval_samples, seed=config.seed,
                    log_likelihood_samples=config.log_likelihood_samples or None,
                    verbose=0 if verbose == 0 else 1)
    metrics = {"test": test, "epochs_run": len(epoch_log.record["seconds"]),
               "optimizer_steps": int(model.optimizer.iterations.numpy()),
               "train_seconds": sum(epoch_log.record["seconds"]),
               "eval_seconds": time.time() - started, "history": epoch_log.record["history"],
               "run": record, "environment": environment, "distribution": replicas}
    if folder and runs.is_chief():
        runs.save(model, folder)
        runs.write_json(folder / runs.METRICS, metrics)
        (folder / runs.EPOCHS).unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # emptied by BackupAndRestore once training ends
            (folder / runs.BACKUP).rmdir()
    return model, metrics


def _checkpoints(folder, monitor):
    """BackupAndRestore (every epoch) and the best weights by ``monitor``."""
    return [tf_keras.callbacks.BackupAndRestore(str(folder / runs.BACKUP)),
            BestWeights(folder / runs.BEST_WEIGHTS, monitor)]
