"""Run folders: a model saved whole (``save``, ``load``) and a training run's files, claimed
by one run at a time.

A zoo model is saved as its weights (``zoo.weight_files``: by variable path, checked on
load) plus the JSON config that rebuilds it, and loaded by rebuilding and loading the
weights. A run folder holds::

    model.json          builder name, overrides, zoo version (what ``load`` needs)
    model.h5            the final weights
    best.h5             the weights of the epoch with the best validation -ELBO
    run.json            the run's data, training and evaluation settings
    metrics.json        test metrics in nats, history, versions, hardware (last written:
                        the run is finished)
    disentanglement.json  the disentanglement metrics, by ``zoo eval --disentanglement``
    generation.json     FID and precision/recall per sampler, by ``zoo eval --generation``
    samplers/           the samplers fitted on the model's codes (``zoo.samplers``), each
                        for the model.h5 whose SHA-256 it records
    backup/             Keras BackupAndRestore's checkpoint of the last finished epoch
                        (weights, optimizer state, epoch), kept when the run ends
    epochs.partial.json every finished epoch's logs and seconds while training runs

This module writes every one of them (``claim``, ``record_epochs``, ``save_best``, ``finish``,
``record_scores``; Keras's BackupAndRestore writes backup/). Every file is written under a
temporary name and renamed, so an interrupted run leaves
no half-written file, and the same command resumes it from ``backup/``. The same command
after the run finished trains nothing; with more epochs it continues the run from
``backup/`` (``check_claim`` says which).
"""

import contextlib
import json
import os
import pathlib
import shutil

import tensorflow as tf

from zoo.errors import ConfigError, RunDirError
from zoo.files import json_roundtrip, read_json, write_json, writing
from zoo.models.registry import rebuild
from zoo.version import __version__
from zoo.weight_files import (NOISE_SEED, UnreadableWeights, load_weights, save_weights,
                              weights_attributes)

MODEL_CONFIG, WEIGHTS, RUN_CONFIG, METRICS = "model.json", "model.h5", "run.json", "metrics.json"
BEST_WEIGHTS, BACKUP = "best.h5", "backup"
EPOCHS = "epochs.partial.json"  # every finished epoch's logs while the run is unfinished
DISENTANGLEMENT = "disentanglement.json"
GENERATION, SAMPLERS = "generation.json", "samplers"


def save(model, folder):
    """Writes ``model.json`` and ``model.h5`` of a model made by ``zoo.get``."""
    if getattr(model, "zoo_config", None) is None:
        raise ConfigError("zoo.save takes a model made by zoo.get or zoo.load; for another "
                          "Keras model use model.save_weights")
    folder = pathlib.Path(folder)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
        save_weights(model, folder / WEIGHTS)
        write_json(folder / MODEL_CONFIG, {**model.zoo_config, "zoo_version": __version__})


def load(folder):
    """Rebuilds the model saved in ``folder`` by ``save`` and loads its weights. A run
    folder whose ``model.h5`` is missing or unreadable is a RunDirError saying how to get
    it back: the run's own command resumes an unfinished run, and restores the final
    weights of a finished one (``restore_weights``)."""
    folder = pathlib.Path(folder)
    config = read_json(folder / MODEL_CONFIG)
    model = rebuild(config)
    try:
        load_weights(model, folder / WEIGHTS)
    except UnreadableWeights as error:
        if not (folder / RUN_CONFIG).is_file():  # a zoo.save folder: nothing else holds them
            raise RunDirError(f"{error}; {folder} is a saved model (no run.json) whose "
                              "weights are gone: save the model there again (zoo.save)"
                              ) from None
        raise RunDirError(f"{error}; {_repair(folder)}") from None
    return model


def _repair(folder):
    """What gets the final weights of the run in ``folder`` back, as the end of a line."""
    if not (folder / METRICS).is_file():
        return f"the run did not finish: {_command(folder)} resumes it"
    source = final_weights_source(folder)
    if source is None:
        return (f"the run finished, but nothing in {folder} holds its final weights (no "
                f"{BACKUP}/ checkpoint or {BEST_WEIGHTS} to restore them from): "
                f"{_command(folder, ' --overwrite')} trains it again")
    kept = BEST_WEIGHTS if source.name == BEST_WEIGHTS else f"{BACKUP}/"
    return f"the run finished: {_command(folder)} restores the file from its {kept}"


def _command(folder, more=""):
    """The command that trained the run in ``folder`` (metrics.json's, with ``--out
    FOLDER``: the folder may have moved since) and ``more``."""
    if (folder / METRICS).is_file():
        command = read_json(folder / METRICS).get("environment", {}).get("command", "")
        if command.startswith("zoo train"):
            words = [word for word in command.split() if word != "--overwrite"]
            if "--out" in words[:-1]:
                del words[words.index("--out"):words.index("--out") + 2]
            return f"`{' '.join(words)} --out {folder}{more}`"
    return f"the same `zoo train ... --out {folder}{more}` (or zoo.train) command"


def final_weights_source(folder):
    """Where a finished run's final weights are kept besides model.h5: ``best.h5`` for a
    run with early stopping (which ends on its best epoch's weights), else the last
    epoch's checkpoint in ``backup/``; None where the folder lacks it (or lacks best.h5's
    noise seed, which a checkpoint does not keep)."""
    folder = pathlib.Path(folder)
    best = folder / BEST_WEIGHTS
    try:
        if NOISE_SEED not in weights_attributes(best):
            return None
    except Exception:  # noqa: BLE001 - a damaged best.h5 (h5py's errors vary): no source
        return None
    if recorded_run(folder).get("early_stopping_patience"):
        return best
    checkpoint = tf.train.latest_checkpoint(folder / BACKUP / "chief")
    return pathlib.Path(checkpoint) if checkpoint else None


def restore_weights(folder):
    """The model of the finished run in ``folder`` with the values its lost ``model.h5``
    held (``final_weights_source``), and where they came from: ``(model, source)``; the
    chief writes ``model.h5`` anew (the other workers of a multi-worker run only read). A
    RunDirError where nothing in the folder holds them."""
    folder = pathlib.Path(folder)
    source = final_weights_source(folder)
    if source is None:
        raise RunDirError(f"{folder / WEIGHTS} cannot be restored: {_repair(folder)}")
    model = rebuild(read_json(folder / MODEL_CONFIG))
    load_weights(model, folder / BEST_WEIGHTS)  # its noise seed, and for early stopping all
    if source.name != BEST_WEIGHTS:  # the last epoch's weights, from Keras's checkpoint
        tf.train.Checkpoint(model=model).read(str(source)).expect_partial(
            ).assert_existing_objects_matched()
    if is_chief():
        with writing(folder):
            save_weights(model, folder / WEIGHTS)
    return model, source


def record_epochs(path, record):
    """Writes the finished epochs' ``record`` (zoo.callbacks.EpochLog's) to ``path``, the
    run folder's ``epochs.partial.json``; on the chief only."""
    if is_chief():
        write_json(path, record)


def save_best(model, path, attributes):
    """Writes ``model``'s weights as the run's best ``path`` (best.h5) with ``attributes``
    (the monitored value and the epoch); on the chief only."""
    if is_chief():
        save_weights(model, path, attributes)


def finish(model, folder, metrics):
    """Ends the run in ``folder``: its model (model.json, model.h5), then ``metrics``
    (metrics.json, written last: the run is finished) and the partial epoch log dropped; on
    the chief only."""
    if is_chief():
        save(model, folder)
        write_json(folder / METRICS, metrics)
        (folder / EPOCHS).unlink(missing_ok=True)


def record_scores(folder, scores):
    """Merges ``scores`` (``{metric: record}``) into ``folder``'s disentanglement.json;
    returns its path."""
    path = pathlib.Path(folder) / DISENTANGLEMENT
    write_json(path, {**(read_json(path) if path.is_file() else {}), **scores})
    return path


def record_generation(folder, key, result):
    """Sets ``key`` (the features and the data) of ``folder``'s generation.json to
    ``result``; returns its path."""
    path = pathlib.Path(folder) / GENERATION
    write_json(path, {**(read_json(path) if path.is_file() else {}), key: result})
    return path


# What a folder holds of a run (``held``, ``check_claim``).
NEW, UNFINISHED, FINISHED, SHORTER = "new", "unfinished", "finished", "shorter"


def claim(folder, run_config, overwrite=False):
    """Makes ``folder`` the home of the run ``run_config`` and records it in ``run.json``
    (``check_claim`` first). With ``overwrite``, the files of another run or of this run
    finished are removed (an unfinished one resumes: the same command again, --overwrite
    or not); the same run with fewer epochs becomes its continuation (``_continue``)."""
    held_now = check_claim(folder, run_config, overwrite)
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if overwrite and held_now != UNFINISHED:
        for name in (METRICS, WEIGHTS, MODEL_CONFIG, BEST_WEIGHTS, EPOCHS, DISENTANGLEMENT,
                     GENERATION):
            (folder / name).unlink(missing_ok=True)
        for name in (BACKUP, SAMPLERS):
            shutil.rmtree(folder / name, ignore_errors=True)
    elif held_now == SHORTER and (folder / METRICS).is_file():
        _continue(folder)
    write_json(folder / RUN_CONFIG, run_config)
    return folder


def _continue(folder):
    """Turns a finished run into the start of its continuation: its epochs' logs and
    seconds go back to ``epochs.partial.json`` (with what it ended at, under
    ``continued_from``), and its final weights and metrics, which describe a shorter run, go."""
    metrics = read_json(folder / METRICS)
    ending = {"epochs": metrics["epochs_run"], "optimizer_steps": metrics["optimizer_steps"],
              "test": metrics["test"], "environment": metrics["environment"]}
    write_json(folder / EPOCHS, {"history": metrics["history"],
                                 "seconds": metrics["epoch_seconds"],
                                 **({"pieces": metrics["pieces"]} if "pieces" in metrics else {}),
                                 "continued_from": [*metrics.get("continued_from", []),
                                                    ending]})
    for name in (METRICS, WEIGHTS):
        (folder / name).unlink()


# RunConfig fields added after run folders were first written, with the value every run
# had before them: a run.json without one is the same run as a config holding that value.
LATER_FIELDS = {"monitor": "val_neg_elbo", "train_examples": 0, "eval_examples": 0,
                "image_size": None, "mixed_precision": False}


def recorded_run(folder):
    """The run configuration ``folder/run.json`` records, with LATER_FIELDS filled in."""
    return {**LATER_FIELDS, **read_json(pathlib.Path(folder) / RUN_CONFIG)}


def held(folder, run_config):
    """What ``folder`` holds of the run ``run_config``: NEW (nothing of it), UNFINISHED
    (resumed from backup/), FINISHED (metrics.json written), SHORTER (the same run with
    fewer epochs, which more epochs continue), or None (another run, or other files)."""
    folder = pathlib.Path(folder)
    if not folder.is_dir() or not any(folder.iterdir()):
        return NEW
    if not (folder / RUN_CONFIG).is_file():
        return None
    previous, wanted = recorded_run(folder), json_roundtrip(run_config)
    if previous == wanted:
        return FINISHED if (folder / METRICS).is_file() else UNFINISHED
    if ({**previous, "epochs": None} == {**wanted, "epochs": None}
            and previous["epochs"] < wanted["epochs"]):
        return SHORTER
    return None


def check_claim(folder, run_config, overwrite=False, make=True):
    """Returns what ``folder`` holds of the run ``run_config`` (``held``); raises
    RunDirError unless the folder may hold it, and OSError where it cannot be made (a
    read-only place, /proc/...).

    An empty or new folder, or one holding the same run, is fine, and so is the same run
    with fewer epochs when it can be continued; a folder holding another run or other files
    is refused unless ``overwrite``. A new folder is made, with its missing parents, and
    removed again (``_can_make``): a run learns that it cannot write there before it
    prepares data or a model (with ``make``: on the chief; other workers only read).
    """
    folder = pathlib.Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunDirError(f"{folder} is a file; pass --out a folder")
    above = next(parent for parent in folder.absolute().parents if parent.exists())
    if not above.is_dir():
        raise RunDirError(f"{above} is a file, so {folder} cannot be a folder; pass --out a "
                          "folder path")
    if make and not folder.exists():
        _can_make(folder)
    held_now = held(folder, run_config)
    if overwrite:
        return held_now
    if held_now is None:
        if not (folder / RUN_CONFIG).is_file():
            raise RunDirError(f"{folder} is not empty and holds no zoo run; pick another "
                              "--out or pass --overwrite")
        previous, wanted = recorded_run(folder), json_roundtrip(run_config)
        changed = sorted(k for k in {**previous, **wanted} if previous.get(k) != wanted.get(k))
        if changed == ["epochs"] and (folder / EPOCHS).is_file() and run_config["epochs"] in [
                end["epochs"] for end in read_json(folder / EPOCHS).get("continued_from", [])]:
            raise RunDirError(f"{folder} holds this run being continued to "
                              f"{previous['epochs']} epochs, unfinished: the same command with "
                              f"--epochs {previous['epochs']} finishes it; or pass --overwrite")
        what = f"its {', '.join(changed)} differ"
        if changed == ["epochs"]:
            what += " (fewer epochs than a run has trained cannot be undone)"
        elif len(changed) <= 2 and not any(  # a value or two: shown
                isinstance(run.get(key), (dict, list)) for key in changed
                for run in (previous, wanted)):
            what = "; ".join(f"its {key}: {previous.get(key)!r} there, {wanted.get(key)!r} here"
                             for key in changed)
        raise RunDirError(f"{folder} holds a different run ({what}); pick another --out or "
                          "pass --overwrite")
    if held_now == SHORTER:
        _check_continuable(folder, run_config)
    return held_now


def _check_continuable(folder, run_config):
    """Raises RunDirError where more epochs cannot continue the run in ``folder`` to the
    numbers of a run given them from the start: its learning rate follows the number of
    epochs (cosine), or it ended before run folders kept their last training state. (Early
    stopping and the plateau schedule replay the recorded epochs: zoo.callbacks.)"""
    previous = recorded_run(folder)["epochs"]
    advice = "pick another --out or pass --overwrite to train it anew"
    if run_config.get("learning_rate_schedule") == "cosine":
        raise RunDirError(f"{folder} holds this run with {previous} epochs, and its cosine "
                          f"learning-rate schedule is set by the epochs, so "
                          f"{run_config['epochs']} epochs is another run; {advice}")
    if not (folder / METRICS).is_file():
        return  # unfinished: resumed from backup/, then trained to the new end
    metrics = read_json(folder / METRICS)
    if not (folder / BACKUP).is_dir() or "epoch_seconds" not in metrics:
        raise RunDirError(f"{folder} holds this run, finished by a zoo that did not keep "
                          f"its last training state (backup/), so it cannot be continued; "
                          f"{advice}")


def _can_make(folder):
    """Makes ``folder`` and its missing parents, then removes what it made, deepest first,
    also when making failed part-way; a folder another process has filled meanwhile stays.
    Raises the OSError of a folder that cannot be made."""
    folder = pathlib.Path(os.path.abspath(folder))  # "a/../b": b, without a
    made = [path for path in (folder, *folder.parents) if not path.exists()]
    try:
        folder.mkdir(parents=True)
    finally:
        for path in made:
            with contextlib.suppress(OSError):
                path.rmdir()


def epochs_text(count):
    """The first ``count`` epochs (>= 1) in words: ``epoch 1``, ``epochs 1-3``."""
    return "epoch 1" if count == 1 else f"epochs 1-{count}"


def is_chief():
    """False on the non-chief workers of a multi-worker run (TF_CONFIG), which write no
    run files: the chief is task ``chief``, or ``worker`` 0 in a cluster without one."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    if not task:
        return True
    chief = "chief" if "chief" in config.get("cluster", {}) else "worker"
    return task.get("type") == chief and task.get("index", 0) == 0
