"""The Keras callbacks of a training run: a stop with one line for a non-finite loss or a
short epoch, the run folder claimed when training starts, every epoch's logs kept across a
resumption, the best epoch's weights, and Keras's early stopping and plateau schedule
resumed with the run.
"""

import math
import pathlib
import time

import tf_keras
from tf_keras import backend

from zoo import files, provenance, runs, weight_files
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
    where it resumes.

    ``record["pieces"]``: the run's stretches of training, one per ``fit`` that trained an
    epoch (the first, each resumption after a crash or Ctrl-C, each continuation to more
    epochs), in order: the epochs it trained (first and last, from 1), their seconds, when
    it ended, and ``environment``'s machine and code (the command, git commit, CPU, GPUs,
    oneDNN; a multi-worker run's: its chief's). A run trained in pieces on several
    machines says which trained what. Epochs a crash lost (trained after the last backup)
    are not counted: the resumption trains them again."""

    # what a piece keeps of provenance.environment()
    PIECE_FIELDS = ("command", "git_commit", "platform", "cpu", "cpu_flags", "cpu_count", "gpus",
                    "onednn")

    def __init__(self, path=None, environment=None):
        super().__init__()
        self.path = pathlib.Path(path) if path else None
        self.environment = environment or {}
        self.record, self.started = {"history": {}, "seconds": [], "pieces": []}, None

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
            self.record["pieces"] = [*self._pieces_before(epoch), {
                "epochs": [epoch + 1, epoch], "seconds": 0.0, "ended": None,
                **{key: self.environment.get(key) for key in self.PIECE_FIELDS}}]
            ends = [end["epochs"] for end in self.record.get("continued_from", [])]
            if epoch and ends and ends[-1] == epoch:
                print(f"continuing the run finished after {epoch} epochs at epoch {epoch + 1}")
            elif epoch:
                print(f"resuming at epoch {epoch + 1} ({runs.epochs_text(epoch)} "
                      f"{'was' if epoch == 1 else 'were'} run before)")
        self.started = time.time()

    def _pieces_before(self, epoch):
        """The recorded pieces cut to the first ``epoch`` epochs (a crash may have recorded
        epochs after the last backup; a piece cut short has no known end), each with its
        kept epochs' seconds, after one piece of unknown machine for the first epochs no
        piece records (a run folder from before pieces were kept)."""
        seconds, kept = self.record["seconds"], []
        for piece in self.record.get("pieces", []):
            first, last = piece["epochs"][0], min(piece["epochs"][1], epoch)
            if first <= last:
                kept.append({**piece, "epochs": [first, last],
                             "seconds": sum(seconds[first - 1:last]),
                             **({"ended": None} if last < piece["epochs"][1] else {})})
        unrecorded = (kept[0]["epochs"][0] if kept else epoch + 1) - 1
        if unrecorded:
            kept.insert(0, {"epochs": [1, unrecorded], "seconds": sum(seconds[:unrecorded]),
                            "ended": None, "note": "trained before the zoo recorded pieces"})
        return kept

    @property
    def pieces(self):
        """The pieces that trained an epoch (a fit stopped before its first epoch ended has
        none; a run folder from before pieces were kept, where no epoch trained since: one
        piece of unknown machine)."""
        if "pieces" not in self.record:
            return self._pieces_before(len(self.record["seconds"]))
        return [piece for piece in self.record["pieces"]
                if piece["epochs"][0] <= piece["epochs"][1]]

    def on_epoch_end(self, epoch, logs=None):
        for name, value in (logs or {}).items():
            self.record["history"].setdefault(name, []).append(float(value))
        self.record["seconds"].append(time.time() - self.started)
        piece = self.record["pieces"][-1]
        first, piece["epochs"][1] = piece["epochs"][0], epoch + 1
        piece["seconds"] = sum(self.record["seconds"][first - epoch - 2:])  # its epochs: the last
        piece["ended"] = provenance.now()
        if self.path:
            runs.record_epochs(self.path, self.record)


class BestWeights(tf_keras.callbacks.Callback):
    """Writes the weights (``runs.save_best``: by path, atomically) whenever the epoch's
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
            runs.save_best(self.model, self.path, {self.monitor: value, "epoch": epoch + 1})


class ResumedWithTheRun:
    """A mixin for Keras's callbacks that count epochs of the monitored value (early
    stopping, the plateau schedule): on the first epoch of a fit resumed from the run's
    backup, or continued with more epochs (or at its end, where it had no epoch left to
    train), ``resume(epoch, history)`` replays the epochs the run recorded (``epoch_log``,
    the run's EpochLog), so that the callback's best value and counts are those of the run
    never stopped; Keras's own start them afresh. Without ``epoch_log``, Keras's callback
    as it is."""

    def __init__(self, *args, epoch_log=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.epoch_log = epoch_log

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.resumed = self.epoch_log is None

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)
        self._resumed_at(epoch)

    def on_train_end(self, logs=None):
        # A fit that trained no epoch: resumed after its last (stopped in its evaluation)
        self._resumed_at(len(self.epoch_log.record["seconds"]) if self.epoch_log else 0)
        super().on_train_end(logs)

    def _resumed_at(self, epoch):
        if not self.resumed:
            self.resumed = True
            if epoch:
                self.resume(epoch, self.epoch_log.record["history"])


def _epoch_logs(history, epoch):
    """The logs of ``epoch`` (from 0) in an EpochLog's ``history``."""
    return {name: values[epoch] for name, values in history.items() if epoch < len(values)}


class StoppedEarlyBefore(Exception):
    """Raised by EarlyStopping when the epochs a resumed fit replays had already ended the
    run (it stopped early, then the process was stopped before the run was saved, or the
    run is continued with more epochs): ``best_weights`` are those early stopping restores."""

    def __init__(self, epoch, best_weights):
        super().__init__(f"early stopping ended this run after epoch {epoch}")
        self.best_weights = best_weights


class EarlyStopping(ResumedWithTheRun, tf_keras.callbacks.EarlyStopping):
    """Keras's EarlyStopping, restoring the best epoch's weights when training ends, that
    resumes with the run (ResumedWithTheRun): its best value, its count of epochs without
    improvement and the weights it restores are those of the run never stopped; the
    weights come from ``best_weights_file``, which a BestWeights of the same monitor
    writes (the best epoch's, kept across resumptions). When the epochs replayed had
    already stopped the run, a resumed fit with epochs left raises StoppedEarlyBefore
    before it trains a step (one with none left restores the best weights as Keras
    does)."""

    def __init__(self, monitor, patience, epoch_log=None, best_weights_file=None):
        super().__init__(monitor=monitor, patience=patience, restore_best_weights=True,
                         epoch_log=epoch_log)
        self.best_weights_file = best_weights_file

    def resume(self, epoch, history):
        self.restore_best_weights = False  # the model holds this epoch's weights, not theirs
        for past in range(epoch):
            super().on_epoch_end(past, _epoch_logs(history, past))
        self.restore_best_weights = True
        if self.best_weights_file and pathlib.Path(self.best_weights_file).is_file():
            self.best_weights = weight_files.stored_values(self.model, self.best_weights_file)

    def on_epoch_begin(self, epoch, logs=None):
        super().on_epoch_begin(epoch, logs)  # on the first, the replay
        if self.stopped_epoch:  # the epochs replayed had ended the run: train no more
            self.model.stop_training = False
            raise StoppedEarlyBefore(self.stopped_epoch + 1, self.best_weights)


class ReduceLROnPlateau(ResumedWithTheRun, tf_keras.callbacks.ReduceLROnPlateau):
    """Keras's ReduceLROnPlateau that resumes with the run (ResumedWithTheRun): its best
    value, wait and cooldown are those of the run never stopped; the learning rate itself
    comes back with the optimizer from the backup."""

    def resume(self, epoch, history):
        learning_rate = self.model.optimizer.lr
        restored = backend.get_value(learning_rate)
        for past in range(epoch):
            logs = _epoch_logs(history, past)
            if "lr" in logs:  # the rate epoch ``past`` trained at, as this callback logged it
                backend.set_value(learning_rate, logs["lr"])
            super().on_epoch_end(past, logs)
        backend.set_value(learning_rate, restored)
