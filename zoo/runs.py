"""Saving, loading and run folders.

A zoo model is saved as its weights plus the JSON config that rebuilds it, and loaded by
rebuilding and loading the weights. Weights files (``save_weights``) are h5 files keyed by
each variable's path in the model, as TensorFlow checkpoints name them
(``encoder/layer_with_weights-0/kernel``): loading matches every variable by that path
and checks its shape, so a file that does not fit the model is refused in one line naming
the first variable that differs, never loaded out of order. A run folder holds::

    model.json          builder name, overrides, zoo version (what ``load`` needs)
    model.h5            the final weights
    best.h5             the weights of the epoch with the best validation -ELBO
    run.json            the run's data, training and evaluation settings
    metrics.json        test metrics in nats, history, versions, hardware (last written)
    backup/             Keras BackupAndRestore's checkpoint while training runs
    epochs.partial.json every finished epoch's logs and seconds while training runs

Every file is written under a temporary name and renamed, so an interrupted run leaves
no half-written file, and the same command resumes it from ``backup/``.
"""

import collections.abc
import contextlib
import hashlib
import json
import os
import pathlib
import platform
import shutil
import subprocess
import sys
from importlib import metadata

import h5py
import tensorflow as tf

import zoo
from zoo import compat
from zoo.errors import ConfigError, RunDirError, WeightsError
from zoo.models.registry import rebuild

MODEL_CONFIG, WEIGHTS, RUN_CONFIG, METRICS = "model.json", "model.h5", "run.json", "metrics.json"
BEST_WEIGHTS, BACKUP = "best.h5", "backup"
NOISE_SEED = "zoo_noise_seed"  # an attribute of save_weights's files
EPOCHS = "epochs.partial.json"  # every finished epoch's logs while the run is unfinished


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path``; renames it to ``path`` if the block succeeds."""
    path = pathlib.Path(path)
    partial = path.with_name(f".partial.{path.name}")  # same suffix: Keras reads it
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def write_json(path, content):
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(content, indent=2, default=_jsonable) + "\n")


def json_roundtrip(content):
    """``content`` as it reads back from JSON (tuples as lists), for comparisons."""
    return json.loads(json.dumps(content, default=_jsonable))


class _Record(dict):
    """A JSON object read from a zoo file: a key it lacks is a RunDirError naming the file
    (a damaged or hand-edited run.json, model.json or result file), not a bare KeyError."""

    def __init__(self, path, items):
        super().__init__(items)
        self.path = path

    def __missing__(self, key):
        raise RunDirError(f"{self.path} has no '{key}': it is damaged or not the zoo's; "
                          "re-run what wrote it")


def read_json(path):
    """The JSON object in ``path`` (a zoo file); RunDirError in one line if it is missing,
    not valid JSON, not an object, or lacks a key the caller reads."""
    try:
        content = json.loads(pathlib.Path(path).read_text(),
                             object_hook=lambda items: _Record(path, items))
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing; is {pathlib.Path(path).parent} a zoo run "
                          "folder of a finished run?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunDirError(f"{path} is not valid JSON ({error}); re-run the training") from None
    if not isinstance(content, dict):
        raise RunDirError(f"{path} holds {type(content).__name__}, not the zoo's JSON object; "
                          "it is damaged: re-run what wrote it")
    return content


def save(model, folder):
    """Writes ``model.json`` and ``model.h5`` of a model made by ``zoo.get``."""
    if getattr(model, "zoo_config", None) is None:
        raise ConfigError("zoo.save takes a model made by zoo.get or zoo.load; for another "
                          "Keras model use model.save_weights")
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    save_weights(model, folder / WEIGHTS)
    write_json(folder / MODEL_CONFIG, {**model.zoo_config, "zoo_version": zoo.__version__})


def load(folder):
    """Rebuilds the model saved in ``folder`` by ``save`` and loads its weights."""
    folder = pathlib.Path(folder)
    config = read_json(folder / MODEL_CONFIG)
    if not (folder / WEIGHTS).is_file():
        raise RunDirError(f"{folder / WEIGHTS} is missing; the run in {folder} did not "
                          "finish: train it again")
    model = rebuild(config)
    load_weights(model, folder / WEIGHTS)
    return model


ROW_WEIGHTS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "weights"
WEIGHTS_URL_ENV, WEIGHTS_CACHE_ENV = "ZOO_WEIGHTS_URL", "ZOO_WEIGHTS_CACHE"
ROW_CONFIG = "zoo_config"  # the attribute of a row's weights file that rebuilds its model


def save_row(model, path):
    """Writes a leaderboard row's one weights file: the weights by path (gzip-compressed,
    lossless: a row file must stay under 10 MiB), and the builder's name and overrides that
    rebuild the model (``load_row``)."""
    save_weights(model, path, {ROW_CONFIG: json.dumps(_plain(model.zoo_config))},
                 compress=True)


def load_row(path):
    """The model of a row's weights file (``save_row``), rebuilt and loaded."""
    config = weights_attributes(path).get(ROW_CONFIG)
    if config is None:
        raise WeightsError(f"{path} is not a row's weights file (it does not say which model "
                           "it holds); load a run folder with zoo.load")
    config = json.loads(config)
    model = rebuild(config)
    load_weights(model, path)
    return model


def sha256(path):
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def pretrained_file(entry):
    """The path of a Pretrained entry's weights file, its SHA-256 checked: a clone's
    ``benchmarks/weights/<row>.h5``, else downloaded from ``$ZOO_WEIGHTS_URL/<row>.h5``
    (``tf_keras.utils.get_file``, cached under ``$ZOO_WEIGHTS_CACHE/zoo_weights``, by
    default ``~/.keras/zoo_weights``)."""
    path = ROW_WEIGHTS / entry.filename
    if not path.is_file():
        base = os.environ.get(WEIGHTS_URL_ENV)
        if not base:
            raise WeightsError(
                f"the weights of zoo.get({entry.builder!r}, weights={entry.weights!r}) "
                f"({entry.filename}) are not "
                f"in {ROW_WEIGHTS} and {WEIGHTS_URL_ENV} is not set; put {entry.filename} "
                f"there (a clone of the zoo has it), or set {WEIGHTS_URL_ENV} to the URL of "
                "a folder that holds it")
        import tf_keras

        cache = os.environ.get(WEIGHTS_CACHE_ENV)
        try:
            if cache:  # Keras would fall back to /tmp/.keras for a folder not made yet
                pathlib.Path(cache).mkdir(parents=True, exist_ok=True)
            path = pathlib.Path(tf_keras.utils.get_file(
                entry.filename, f"{base.rstrip('/')}/{entry.filename}",
                file_hash=entry.sha256, hash_algorithm="sha256", cache_subdir="zoo_weights",
                cache_dir=cache))
        except Exception as error:  # no network, 404, or a file whose hash is wrong
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(
                error).__name__
            raise WeightsError(f"could not fetch {entry.filename} from {base}: {message}; "
                               f"put it in {ROW_WEIGHTS} instead") from None
    found = sha256(path)
    if found != entry.sha256:
        raise WeightsError(f"{path} has SHA-256 {found[:16]}..., not the {entry.sha256[:16]}... "
                           f"declared for {entry.row}; it is not that row's file: fetch it "
                           "again")
    return path


def variables_by_path(model):
    """``{path: variable}`` for every variable of ``model`` (its optimizer's excluded),
    keyed by the path TensorFlow's checkpoints give it (attribute names, and a layer's place
    among its model's layers): the same for the same builder in any process."""
    found, seen = {}, set()

    def visit(trackable, prefix):
        for name, child in tf.train.TrackableView.children(trackable).items():
            if name == "optimizer" or id(child) in seen:
                continue
            seen.add(id(child))
            path = f"{prefix}{name}"
            if isinstance(child, tf.Variable):
                found[path] = child
            else:
                visit(child, path + "/")

    visit(model, "")
    return found


def save_weights(model, path, attributes=None, compress=False):
    """Writes ``model``'s variables to the h5 file ``path``, keyed by their paths, with
    ``attributes`` (numbers) on the file, and a zoo model's noise ``seed``, so that the
    reloaded model draws the same posterior noise. ``compress``: h5's lossless gzip with
    byte shuffling (about 9% smaller for trained float32 weights; slower to write)."""
    filters = {"compression": "gzip", "shuffle": True} if compress else {}
    with atomic_path(path) as partial:
        with h5py.File(partial, "w") as weights:
            for name, variable in variables_by_path(model).items():
                value = variable.numpy()
                weights.create_dataset(name, data=value, **(filters if value.ndim else {}))
            weights.attrs.update(attributes or {})
            if isinstance(getattr(model, "seed", None), int):
                weights.attrs[NOISE_SEED] = model.seed


def weights_attributes(path):
    """The attributes ``save_weights`` wrote on ``path``; empty if there is no such file."""
    if not pathlib.Path(path).is_file():
        return {}
    with h5py.File(path, "r") as weights:
        return {name: value.item() if hasattr(value, "item") else value
                for name, value in weights.attrs.items()}


def load_weights(model, path):
    """Loads the weights file ``path`` (``save_weights``) into ``model``: every variable by
    its path, all or nothing; a WeightsError naming the first variable that does not fit.
    A zoo model takes the file's noise seed too (files written before it had none)."""
    variables = variables_by_path(model)
    try:
        weights = h5py.File(path, "r")
    except FileNotFoundError:
        raise WeightsError(f"no weights file {path}") from None
    except OSError as error:
        raise WeightsError(f"{path} is not an h5 weights file ({error})") from None
    with weights:
        if "layer_names" in weights.attrs:
            raise WeightsError(f"{path} is a Keras h5 weights file, matched by layer order "
                               "(zoo 0.1); retrain the model with this version")
        stored = {}

        def collect(name, item):  # returns None: h5py stops visiting at any other value
            if isinstance(item, h5py.Dataset):
                stored[name] = item

        weights.visititems(collect)
        for name, variable in variables.items():
            if name not in stored:
                raise WeightsError(f"{path} does not fit the model: it has no {name}; load it "
                                   "into the model it was saved from (see model.json)")
            if tuple(stored[name].shape) != tuple(variable.shape):
                raise WeightsError(
                    f"{path} does not fit the model: its {name} has shape "
                    f"{tuple(stored[name].shape)}, the model's {tuple(variable.shape)}; load "
                    "it into the model it was saved from (see model.json)")
        extra = sorted(set(stored) - set(variables))
        if extra:
            raise WeightsError(f"{path} does not fit the model: it holds {extra[0]}, which "
                               "the model lacks; load it into the model it was saved from "
                               "(see model.json)")
        values = {name: stored[name][()] for name in variables}
        seed = weights.attrs.get(NOISE_SEED)
    if seed is not None and hasattr(model, "reseeded"):
        model.reseeded(int(seed))
    for name, variable in variables.items():
        variable.assign(values[name])


def claim(folder, run_config, overwrite=False):
    """Makes ``folder`` the home of the run ``run_config`` and records it in ``run.json``
    (``check_claim`` first)."""
    folder = check_claim(folder, run_config, overwrite)
    folder.mkdir(parents=True, exist_ok=True)
    same_run = ((folder / RUN_CONFIG).is_file()
                and recorded_run(folder) == json_roundtrip(run_config))
    if overwrite and not same_run:  # the same command again resumes, --overwrite or not
        for name in (METRICS, WEIGHTS, MODEL_CONFIG, BEST_WEIGHTS, EPOCHS):
            (folder / name).unlink(missing_ok=True)
        shutil.rmtree(folder / BACKUP, ignore_errors=True)
    write_json(folder / RUN_CONFIG, run_config)
    return folder


# RunConfig fields added after run folders were first written, with the value every run
# had before them: a run.json without one is the same run as a config holding that value.
LATER_FIELDS = {"monitor": "val_neg_elbo", "train_examples": 0, "eval_examples": 0}


def recorded_run(folder):
    """The run configuration ``folder/run.json`` records, with LATER_FIELDS filled in."""
    return {**LATER_FIELDS, **read_json(pathlib.Path(folder) / RUN_CONFIG)}


def check_claim(folder, run_config, overwrite=False):
    """Raises RunDirError unless ``folder`` may hold the run ``run_config``, and OSError
    where it cannot be made (a read-only place, /proc/...).

    An empty or new folder, or one holding the same run, is fine; a folder holding another
    run or other files is refused unless ``overwrite``. A new folder is made, with its
    missing parents, and removed again (``_can_make``): a run learns that it cannot write
    there before it prepares data or a model.
    """
    folder = pathlib.Path(folder)
    if folder.exists() and not folder.is_dir():
        raise RunDirError(f"{folder} is a file; pass --out a folder")
    above = next(parent for parent in folder.absolute().parents if parent.exists())
    if not above.is_dir():
        raise RunDirError(f"{above} is a file, so {folder} cannot be a folder; pass --out a "
                          "folder path")
    if not folder.exists():
        _can_make(folder)
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        if not (folder / RUN_CONFIG).is_file():
            raise RunDirError(f"{folder} is not empty and holds no zoo run; pick another "
                              "--out or pass --overwrite")
        previous = recorded_run(folder)
        if previous != json_roundtrip(run_config):
            changed = sorted(k for k in {**previous, **run_config}
                             if previous.get(k) != run_config.get(k))
            raise RunDirError(f"{folder} holds a different run (its {', '.join(changed)} "
                              "differ); pick another --out or pass --overwrite")
    return folder


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


def is_chief():
    """False on the non-chief workers of a multi-worker run (TF_CONFIG), which write no
    run files: the chief is task ``chief``, or ``worker`` 0 in a cluster without one."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task", {})
    if not task:
        return True
    chief = "chief" if "chief" in config.get("cluster", {}) else "worker"
    return task.get("type") == chief and task.get("index", 0) == 0


def environment():
    """Package versions, hardware and git commit, for result files."""
    import tensorflow as tf

    packages = ["tensorflow", "tf-keras", "tensorflow-probability", "tensorflow-datasets",
                "keras-tuner", "numpy"]
    versions = {name: _version(name) for name in packages}
    return {
        "zoo_version": zoo.__version__,
        "command": " ".join([_program(), *sys.argv[1:]]),
        "python": sys.version.split()[0],
        "packages": versions,
        "platform": platform.platform(),
        **_cpu(),
        "cpu_count": os.cpu_count(),
        "gpus": [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                 for gpu in tf.config.list_physical_devices("GPU")],
        "onednn": compat.onednn_enabled(),
        "git_commit": _git_commit(),
    }


def _program():
    """``zoo`` for the zoo command (also when run as ``python -m zoo.cli``), else the script."""
    program = pathlib.Path(sys.argv[0]).name
    return "zoo" if program in ("zoo", "cli.py") else program


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# The vector instruction sets TensorFlow's CPU kernels use: two machines that report one
# model name ("AMD EPYC", 2 cores) can differ by them, and by several times in training speed.
VECTOR_EXTENSIONS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile")


def _cpu():
    with contextlib.suppress(OSError):
        return cpu_description(pathlib.Path("/proc/cpuinfo").read_text())
    return {"cpu": platform.processor() or None, "cpu_flags": None}  # not Linux: unknown


def cpu_description(cpuinfo):
    """``{"cpu": model name, "cpu_flags": [...]}`` from the text of /proc/cpuinfo: the first
    processor's model name and which of ``VECTOR_EXTENSIONS`` its flags list."""
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = fields.get("flags", "").split()
    return {"cpu": fields.get("model name") or platform.processor() or None,
            "cpu_flags": [flag for flag in VECTOR_EXTENSIONS if flag in flags]}


def _git_commit():
    source = pathlib.Path(__file__).resolve().parent
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True,
                                text=True, timeout=10)
        # Changed tracked files outside benchmarks/ (whose result files and weights a
        # benchmark run itself rewrites) mark the code as not that commit's.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ":(top)", ":(top,exclude)benchmarks"],
                               cwd=source, capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    return None


def _plain(value):
    """Plain dicts and lists in place of Keras's tracking wrappers (as a model's
    ``zoo_config`` is held), for JSON."""
    if isinstance(value, collections.abc.Mapping):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, collections.abc.Sequence) and not isinstance(value, str):
        return [_plain(item) for item in value]
    return value


def _jsonable(value):
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
