"""Training: ``model.fit`` on tfds pipelines under the process's distribution strategy.

``train`` runs the whole job: dataset -> model (built in ``strategy().scope()``) -> fit
-> test evaluation -> run folder.
"""

import dataclasses
import functools
import math
import os
import time

import tensorflow as tf
import tf_keras

from zoo import data, runs
from zoo.errors import ConfigError, NonFiniteLossError
from zoo.evaluate import evaluate
from zoo.models.registry import builder, get


@functools.cache
def strategy():
    """The one ``tf.distribute`` strategy of this process, created on first use.

    MultiWorkerMirroredStrategy when ``TF_CONFIG`` is set, MirroredStrategy over all GPUs
    when there are several, else the default single-device strategy. Cached because a
    second MirroredStrategy in one process breaks its collectives.
    """
    if os.environ.get("TF_CONFIG"):
        return tf.distribute.MultiWorkerMirroredStrategy()
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    return tf.distribute.get_strategy()


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


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run; recorded in the run folder's ``run.json``."""

    model: str
    overrides: dict = dataclasses.field(default_factory=dict)
    dataset: str = "binarized_mnist"
    binarization: str = None
    epochs: int = 10
    batch_size: int = 128
    seed: int = 0
    eval_samples: int = 10

    def resolved(self):
        """A copy with the overrides and binarization checked and made explicit."""
        if not isinstance(self.epochs, int) or self.epochs < 1:
            raise ConfigError(f"epochs must be an int >= 1, got {self.epochs!r}")
        return dataclasses.replace(
            self, overrides=builder(self.model).validate(self.overrides),
            binarization=data.binarization_for(self.dataset, self.binarization))


def train(config, out=None, *, overwrite=False, manual_dir=None, data_dir=None,
          callbacks=(), verbose="auto"):
    """Trains ``config`` (a RunConfig), evaluates it on the test split, and returns
    ``(model, metrics)``; with ``out``, also writes the run folder (see zoo.runs)."""
    config = config.resolved()
    record = dataclasses.asdict(config)
    folder = runs.claim(out, record, overwrite=overwrite) if out else None
    loader = functools.partial(data.load, config.dataset, batch_size=config.batch_size,
                               binarization=config.binarization, seed=config.seed,
                               manual_dir=manual_dir, data_dir=data_dir)
    train_data, validation_data = loader("train"), loader("validation")
    tf_keras.utils.set_random_seed(config.seed)
    with strategy().scope():
        model = get(config.model, **config.overrides)
    started = time.time()
    history = model.fit(train_data, validation_data=validation_data, epochs=config.epochs,
                        callbacks=[StopOnNonFiniteLoss(), *callbacks], verbose=verbose)
    train_seconds = time.time() - started
    test = evaluate(model, loader("test"), samples=config.eval_samples, seed=config.seed,
                    verbose=0 if verbose == 0 else 1)
    metrics = {"test": test, "epochs_run": len(history.epoch), "train_seconds": train_seconds,
               "history": history.history, "run": record, "environment": runs.environment()}
    if folder:
        runs.save(model, folder)
        runs.write_json(folder / runs.METRICS, metrics)
    return model, metrics
