"""Training: ``model.fit`` on tfds pipelines under the process's distribution strategy.

``train`` runs the whole job: a ``RunConfig`` resolved once into its Plan (zoo.config) ->
dataset -> model (built in the strategy's scope, zoo.devices) -> fit (with
zoo.callbacks) -> test evaluation -> run folder. The functions here take the Plan.
"""

import dataclasses
import functools
import math
import pathlib
import time

import tensorflow as tf
import tf_keras

from zoo import checks, files, provenance, runs, weight_files
from zoo.callbacks import (BestWeights, ClaimRunFolder, EarlyStopping, EpochLog, FullEpochs,
                           ReduceLROnPlateau, StopOnNonFiniteLoss, StoppedEarlyBefore)
from zoo.config import Plan, RunConfig
from zoo.devices import active_strategy, strategy, strategy_name
from zoo.errors import ConfigError, TrainingInterrupted
from zoo.evaluate import evaluate
from zoo.models import vae

__all__ = ["RunConfig", "active_strategy", "strategy", "train"]


def run_callbacks(plan, epoch_log=None, best_weights_file=None):
    """The Keras callbacks that carry out the schedule and early stopping of ``plan`` (a
    Plan); given the run's EpochLog and its BestWeights file, a resumed run's plateau
    schedule and early stopping go on from the epochs it recorded."""
    config = plan.config
    callbacks = [StopOnNonFiniteLoss()]
    if config.learning_rate_schedule == "cosine":
        callbacks.append(tf_keras.callbacks.LearningRateScheduler(
            functools.partial(_cosine, plan.learning_rate, config.epochs)))
    elif config.learning_rate_schedule == "plateau":
        callbacks.append(ReduceLROnPlateau(monitor=config.monitor, factor=0.5, patience=5,
                                           min_lr=1e-5, epoch_log=epoch_log))
    if config.early_stopping_patience:
        callbacks.append(EarlyStopping(config.monitor, config.early_stopping_patience,
                                       epoch_log, best_weights_file))
    return callbacks


def _cosine(initial, epochs, epoch, learning_rate):
    del learning_rate
    return initial * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


def training_data(plan, model, distribution):
    """``plan``'s train split as ``model.fit`` takes it under ``distribution``, with
    ``plan.steps_per_epoch`` steps an epoch: passes without end (tf_keras never
    re-iterates a distributed dataset between epochs), each worker's pipeline giving every
    one of its replicas that replica's block of each global batch, in the order of the
    model's optimizer steps (so a resumed run sees the data of one never stopped)."""

    def per_worker(context):
        local = context.num_replicas_in_sync // context.num_input_pipelines
        return plan.load("train", labels=model.conditional,
                         order_key=model.optimizer.iterations, repeat=True,
                         replicas=(context.input_pipeline_id * local, local,
                                   context.num_replicas_in_sync))

    return distribution.distribute_datasets_from_function(per_worker)


def compiled(plan, model, steps_per_epoch):
    """``model`` compiled for the run ``plan``: its ``optimizer`` at its ``learning_rate``,
    the KL warm-up over ``kl_warmup_epochs * steps_per_epoch`` steps, ``jit_compile``."""
    config = plan.config
    if config.optimizer == "adam":  # the builders' (benchmarks/determinism.py swaps it)
        optimizer = vae.ADAM(plan.learning_rate)
    else:
        optimizer = tf_keras.optimizers.get(
            {"class_name": config.optimizer, "config": {"learning_rate": plan.learning_rate}},
            use_legacy_optimizer=True)
    model.compile(optimizer=optimizer, jit_compile=config.jit_compile,
                  kl_warmup_steps=config.kl_warmup_epochs * steps_per_epoch)
    return model


def train(config, out=None, *, overwrite=False, manual_dir=None, data_dir=None,
          callbacks=(), verbose="auto"):
    """Trains ``config`` (a RunConfig, or its Plan: ``config.plan()``), evaluates it on the
    test split, and returns ``(model, metrics)``; with ``out``, also writes the run folder
    (see zoo.runs). ``manual_dir``, ``data_dir``: where the data are (a Plan's own by
    default).

    With ``out``, training is checkpointed after every epoch in ``OUT/backup`` (Keras
    BackupAndRestore): the same call after a crash or Ctrl-C resumes at the last finished
    epoch and ends with the numbers of a run never stopped. The best weights by ``config.monitor``
    are kept in ``OUT/best.h5``; ``model.h5`` holds the final ones (both written by
    ``zoo.runs``). The same call once the run has finished trains nothing
    and returns the model and metrics it recorded; with more ``epochs`` it continues the
    run from its last epoch (the numbers of a run given those epochs from the start, where
    the learning rate does not follow the epochs), and ``metrics["continued_from"]`` lists
    where it ended before.
    """
    # Made first: MultiWorkerMirroredStrategy must precede any other op.
    distribution = active_strategy()
    if not isinstance(config, Plan):
        plan = config.plan(manual_dir, data_dir)
    else:  # its own data folders, unless others are given
        plan = config.reading(manual_dir, data_dir) if manual_dir or data_dir else config
    config = plan.config
    if (config.jit_compile and distribution.num_replicas_in_sync > 1
            and not tf.config.list_physical_devices("GPU")):
        raise ConfigError("jit_compile does not work with MirroredStrategy over CPU devices "
                          "(a TensorFlow limitation); train on one CPU device or on GPUs")
    record = dataclasses.asdict(config)
    folder = pathlib.Path(out) if out else None
    if folder:  # refused now, by every worker alike (one shared folder); claimed once
        held = runs.check_claim(folder, record, overwrite=overwrite,  # training starts
                                make=runs.is_chief())
    if folder and held == runs.FINISHED and not overwrite:
        return _finished(folder)
    examples = plan.examples["train"]  # prepares the data; too many examples: now
    tf_keras.utils.set_random_seed(config.seed)
    if config.deterministic:
        tf.config.experimental.enable_op_determinism()
    steps = plan.steps_per_epoch
    with distribution.scope():
        model = compiled(plan, plan.model(examples), steps)
    if model.data_kind == "binary" and config.binarization == "none":
        checks.warn_grey(f"{config.dataset} with binarization='none'")
    loader = functools.partial(plan.load, labels=model.conditional)  # (x, label): a cvae's
    train_data = training_data(plan, model, distribution)
    environment = provenance.environment()  # the code that runs: the commit now, not at the end
    epoch_log = EpochLog(folder / runs.EPOCHS if folder else None, environment)
    if folder:
        callbacks = [*run_callbacks(plan, epoch_log, folder / runs.BEST_WEIGHTS),
                     ClaimRunFolder(folder, record, overwrite), epoch_log,
                     *_checkpoints(folder, config.monitor), *callbacks]
    else:
        callbacks = [*run_callbacks(plan), epoch_log, *callbacks]
    replicas = {"strategy": strategy_name(distribution),
                "replicas": distribution.num_replicas_in_sync}
    if verbose != 0 and plan.precision[1]:
        print(plan.precision[1])
    if verbose != 0 and replicas["replicas"] > 1:
        print(f"training on {replicas['replicas']} replicas ({replicas['strategy']}); the "
              f"global batch of {config.batch_size} is split over them")
    try:
        FullEpochs.fit(model, train_data, steps, callbacks,
                       validation_data=loader("validation"), epochs=config.epochs,
                       verbose=verbose)
    except StoppedEarlyBefore as stopped:  # then stopped in its evaluation, or continued
        if stopped.best_weights is None:  # no best.h5: the last epoch's, as Keras keeps
            print(f"{stopped}: nothing to train; evaluating its last weights")
        else:
            print(f"{stopped}: nothing to train; evaluating the weights of its best epoch")
            model.set_weights(stopped.best_weights)
    except KeyboardInterrupt:
        raise _interrupted(folder, len(epoch_log.record["seconds"]), config.epochs) from None
    except tf.errors.ResourceExhaustedError as error:  # BackupAndRestore's checkpoint
        if folder and files.no_space(error):
            raise files.no_space_writing(folder / runs.BACKUP) from None
        raise
    started = time.time()
    try:
        test = evaluate(model, loader("test"), samples=config.eval_samples, seed=config.seed,
                        log_likelihood_samples=config.log_likelihood_samples or None,
                        verbose=0 if verbose == 0 else 1)
    except KeyboardInterrupt:
        raise _interrupted(folder, len(epoch_log.record["seconds"]), config.epochs,
                           evaluating=True) from None
    seconds = epoch_log.record["seconds"]
    metrics = {"test": test, "epochs_run": len(seconds),
               "optimizer_steps": int(model.optimizer.iterations.numpy()),
               "train_seconds": sum(seconds), "epoch_seconds": seconds,
               "eval_seconds": time.time() - started, "history": epoch_log.record["history"],
               "pieces": epoch_log.pieces,
               "run": record, "data": {**plan.dataset.describe(), "read_from": plan.read_from},
               "environment": environment,
               "distribution": replicas, "dtype_policy": model.dtype_policy.name}
    if "continued_from" in epoch_log.record:  # earlier ends of this run, first to last
        metrics["continued_from"] = epoch_log.record["continued_from"]
    if folder:
        runs.finish(model, folder, metrics)
    return model, metrics


def _interrupted(folder, finished, epochs, evaluating=False):
    """The TrainingInterrupted of a run stopped with ``finished`` of its ``epochs`` done,
    in training or, ``evaluating``, in its test evaluation."""
    if evaluating:
        where = f"stopped after {finished} epochs of training, in the test evaluation"
    else:
        where = f"stopped in epoch {finished + 1} of {epochs}"
    if folder is None:
        return TrainingInterrupted(f"{where}; without an output folder nothing is kept")
    if evaluating:
        return TrainingInterrupted(f"{where}; the same command evaluates the trained model "
                                   f"({folder} holds it)")
    if finished == 0:  # (or before the fit recorded the epochs a resumed run had)
        return TrainingInterrupted(f"{where}; the same command resumes the run from the last "
                                   f"epoch {folder} holds, or starts it")
    return TrainingInterrupted(f"{where}; {folder} holds {runs.epochs_text(finished)}, and "
                               f"the same command resumes the run at epoch {finished + 1}")


def _finished(folder):
    """The model and metrics of the finished run in ``folder``, trained no further; its
    final weights restored first where ``model.h5`` is missing or unreadable."""
    metrics = files.read_json(folder / runs.METRICS)
    print(f"{folder} holds this run, finished after {metrics['epochs_run']} epochs: nothing "
          f"to train (more epochs continue it; --overwrite trains it anew; `zoo eval "
          f"{folder}` evaluates it again)")
    weights = folder / runs.WEIGHTS
    if weight_files.readable(weights):
        return runs.load(folder), metrics
    model, source = runs.restore_weights(folder)
    what = ("its best epoch's weights" if source.name == runs.BEST_WEIGHTS
            else "the last epoch's checkpoint")
    print(f"{weights} was missing or damaged: restored from {what} ({source}), the values "
          "it held")
    return model, metrics


def _checkpoints(folder, monitor):
    """The best weights by ``monitor`` and BackupAndRestore (every epoch; the last epoch's
    state kept, so that more epochs continue the run), in that order after the EpochLog:
    an epoch's backup is written last, so a run resumed from it finds that epoch's logs
    and best weights recorded, which early stopping's replay reads."""
    return [BestWeights(folder / runs.BEST_WEIGHTS, monitor),
            tf_keras.callbacks.BackupAndRestore(str(folder / runs.BACKUP),
                                                delete_checkpoint=False)]
