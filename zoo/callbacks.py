"""The Keras callbacks of a training run: a stop with one line for a non-finite loss or a
short epoch, the run folder claimed when training starts, every epoch's logs kept across a
resumption, and the best epoch's weights.
"""

import math
import pathlib
import time

import tf_keras

from zoo import files, runs, weight_files
from zoo.devices import strategy_name
from zoo.errors import NonFiniteLossError, ShortEpochError


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
            self.record = files.read_json(self.path)
        self.first = True

    def on_epoch_begin(self, epoch, logs=None):
        if self.first:  # where fit starts: after the epochs BackupAndRestore restored
            self.first = False
            self.record["seconds"] = self.record["seconds"][:epoch]
            self.record["history"] = {name: values[:epoch]
                                      for name, values in self.record["history"].items()}
            ends = [end["epochs"] for end in self.record.get("continued_from", [])]
            if epoch and ends and ends[-1] == epoch:
                print(f"continuing the run finished after {epoch} epochs at epoch {epoch + 1}")
            elif epoch:
                print(f"resuming at epoch {epoch + 1} (epochs 1-{epoch} were run before)")
        self.started = time.time()

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.record["history"].setdefault(name, []).append(float(value))
        self.record["seconds"].append(time.time() - self.started)
        if self.path and runs.is_chief():
            files.write_json(self.path, self.record)


class BestWeights(tf_keras.callbacks.Callback):
    """Writes the weights (``weight_files.save_weights``: by path, atomically) whenever the epoch's
    ``monitor`` (the validation -ELBO by default) is the best so far (lowest; highest with
    ``direction="max"``). The file records that value, so a resumed run keeps a better
    earlier epoch. In a multi-worker run only the chief writes."""

    def __init__(self, path, monitor="val_neg_elbo", direction="min"):
        super().__init__()
        self.path, self.monitor = pathlib.Path(path), monitor
        self.sign = 1 if direction == "min" else -1

    def on_train_begin(self, logs=None):
        self.best = self.sign * weight_files.weights_attributes(self.path).get(
            self.monitor, self.sign * math.inf)

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and self.sign * value < self.best:
            self.best = self.sign * value
            if runs.is_chief():
                weight_files.save_weights(self.model, self.path,
                                          {self.monitor: value, "epoch": epoch + 1})
