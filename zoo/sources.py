"""Where a saved model comes from, for ``zoo eval``, ``zoo plot`` and ``zoo export`` alike.

``resolve(text)`` takes every source the zoo writes or knows:

- a run folder of ``zoo train`` (``run.json``: its data settings, ``metrics.json``);
- a ``zoo.save`` folder (``model.json`` and ``model.h5``);
- a ``.keras`` file (``model.save``);
- a leaderboard row's weights file (``benchmarks/weights/ROW.h5``, with its recipe and
  result file when they sit beside it in ``benchmarks/``);
- a pretrained model as ``MODEL:WEIGHTS`` (``mlp_vae:binarized_mnist``; ``zoo list
  --pretrained``).

A source without data settings of its own is evaluated and drawn on ``dataset`` (default:
binarized_mnist, or the first dataset whose images the model takes: sprites for a 64x64
model) with ``zoo train``'s defaults for it. A dataset whose images the model does not take
is refused in one line. A run folder's data are read from the folders its run was given
(``--manual-dir``, ``--data-dir``, recorded in metrics.json) where the caller gives none and
they are on this machine.
"""

import dataclasses
import os
import pathlib

from zoo import catalog
from zoo.errors import DataError, RunDirError, WeightsError

DEFAULT_DATASET = "binarized_mnist"


@dataclasses.dataclass
class Source:
    """A model and what is known of it: ``settings``, the data settings of a ``RunConfig``
    (dataset, binarization, seed, batch_size, eval_samples, eval_examples...); ``metrics``,
    its recorded test metrics and epochs (or None); ``row``, a leaderboard row's weights file
    (or None); ``folder``, the run or ``zoo.save`` folder it lives in (or None); ``file``,
    the .keras or weights file it was read from (or None); ``manual_dir``, ``data_dir``:
    where its data are read from (None: tfds's own)."""

    name: str
    model: object
    settings: dict
    metrics: dict = None
    row: pathlib.Path = None
    folder: pathlib.Path = None
    manual_dir: str = None
    data_dir: str = None
    file: pathlib.Path = None


def kind(text, imports=(), registered=False):
    """What ``text`` names, by its form alone (nothing loaded, no TensorFlow started unless
    a plugin may name the model, or ``registered``: names checked against the registry as
    it is now): ``"pretrained"``, ``"folder"``, ``"keras"`` or ``"weights"``; a one-line
    RunDirError for a path that is none of them, so that a mistyped source is refused at
    once."""
    path = pathlib.Path(text)
    if not path.exists():
        name, colon, weights = str(text).partition(":")
        from_catalog = not registered and catalog.covers(imports)
        if colon and os.sep not in str(text) and name in _model_names(from_catalog):
            if from_catalog:
                catalog.check_weights(name, weights)  # a typo: at once
            return "pretrained"
        raise RunDirError(f"{text}: no such run folder or file; pass a run folder, a zoo.save "
                          "folder, a .keras or weights .h5 file, or MODEL:WEIGHTS (zoo list "
                          "--pretrained)")
    if path.is_dir():
        return "folder"
    found = {".keras": "keras", ".h5": "weights"}.get(path.suffix)
    if found:
        return found
    raise RunDirError(f"{path} is not a model the zoo can read; pass a run folder, a "
                      "zoo.save folder, a .keras or weights .h5 file, or MODEL:WEIGHTS")


def _model_names(from_catalog):
    if from_catalog:
        return catalog.models()
    from zoo.models import registry

    return registry.list_models()


def resolve(text, dataset=None, image_size=None, manual_dir=None, data_dir=None,
            fitting=True):
    """The Source named by ``text`` (see the module docstring; ``kind`` first); ``dataset``
    replaces its dataset (a source without settings: binarized_mnist by default, or the
    first dataset of the model's image shape), ``image_size`` its images' size. One-line
    RunDirError or WeightsError for a path that is none of them, DataError for a dataset
    whose images the model does not take (``fitting=False``: not checked, and its data not
    read: ``zoo export``).
    ``manual_dir``, ``data_dir``: where its dataset is. (The stages are imported here,
    when a model is loaded.)"""
    source = _resolved_source(text, (dataset, image_size), (manual_dir, data_dir))
    return _fitting(source) if fitting else source


def _fitting(source):
    """``source``, if its model takes its dataset's images; else a DataError naming a
    dataset it does take."""
    from zoo import datasets

    shape, run = tuple(source.model.image_shape), source.settings
    found = tuple(datasets.spec(run["dataset"], run.get("image_size"), source.manual_dir,
                                source.data_dir).shape)
    if found != shape:
        fitting = _datasets_taking(shape)
        fix = (f"pass --dataset {fitting[0]}" if fitting
               else "pass a dataset of them (--dataset, and --image-size to resize one)")
        raise DataError(f"{source.name} takes {'x'.join(map(str, shape))} images, and "
                        f"{run['dataset']} has {'x'.join(map(str, found))}; {fix}")
    return source


def _resolved_source(text, data, where):
    from zoo import files, pretrained, runs

    found, path = kind(text, registered=True), pathlib.Path(text)
    if found == "pretrained":
        name, weights = str(text).split(":", 1)
        file = pretrained.file(pretrained.lookup(name, weights))
        return _row(str(text), file, data, where)
    if found == "folder":
        model = runs.load(path)
        if (path / runs.RUN_CONFIG).is_file():
            settings = files.read_json(path / runs.RUN_CONFIG)
            metrics = (files.read_json(path / runs.METRICS)
                       if (path / runs.METRICS).is_file() else None)
            if where == (None, None) and data[0] is None:  # the run's own data: where it read
                where = _read_from(metrics)
            return Source(str(text), model, _settings(settings, data, where), metrics,
                          folder=path, manual_dir=where[0], data_dir=where[1])
        return Source(str(text), model, _defaults(model, data, where), folder=path,
                      manual_dir=where[0], data_dir=where[1])
    if found == "keras":
        import tf_keras

        try:
            model = tf_keras.models.load_model(path)
        except Exception as error:  # a damaged or foreign file: said in one line
            detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise RunDirError(f"{path} is not a .keras file of a zoo model that loads here "
                              f"({type(error).__name__}: {detail}); save it again with "
                              "model.save") from None
        return Source(str(text), model, _defaults(model, data, where), manual_dir=where[0],
                      data_dir=where[1], file=path)
    if not pretrained.is_row_file(path):
        raise WeightsError(f"{path} holds weights without the model they fit; pass its run "
                           "folder, or in Python zoo.get(MODEL, ..., weights=PATH)")
    return _row(str(text), path, data, where)


def _row(name, file, data, where):
    from zoo import pretrained, results

    model = pretrained.load_row(file)
    result = results.row_of(file)
    if result is None:  # a row's file away from its benchmarks/ folder
        return Source(name, model, _defaults(model, data, where), manual_dir=where[0],
                      data_dir=where[1], file=pathlib.Path(file))
    metrics = {"test": results.best_test(result), "epochs_run": result.get("epochs_run")}
    return Source(name, model, _settings(result["recipe_contents"], data, where), metrics,
                  row=pathlib.Path(file), manual_dir=where[0], data_dir=where[1],
                  file=pathlib.Path(file))


def _read_from(metrics):
    """The (manual dir, data dir) a run recorded reading its data from (metrics.json's
    ``data``), each where it is a folder on this machine (else None: tfds's own)."""
    recorded = ((metrics or {}).get("data") or {}).get("read_from") or {}
    return tuple(folder if folder and os.path.isdir(folder) else None
                 for folder in (recorded.get("manual_dir"), recorded.get("data_dir")))


def _settings(recorded, data, where):
    """A recorded run's settings, with ``data`` = (dataset, image size) in place of its
    own where given (another dataset: its default binarization and whole test split)."""
    from zoo import datasets

    (dataset, image_size), settings = data, dict(recorded)
    size = datasets.image_size_of(image_size)
    if dataset and dataset != settings["dataset"]:
        settings.update(dataset=dataset, binarization=None, eval_examples=0)
    elif size is None or size == datasets.image_size_of(settings.get("image_size")):
        return settings
    if size:  # (else the run's, the size its model takes)
        settings.update(image_size=size)
    return {**settings, **_resolved(settings, where)}


def _defaults(model, data, where):
    """``zoo train``'s settings for ``model`` on ``data`` = (dataset, image size) (default
    binarized_mnist, or the first dataset whose images the model takes; as stored)."""
    dataset, image_size = data
    if dataset is None:
        dataset = next(iter(_datasets_taking(tuple(model.image_shape))), DEFAULT_DATASET)
    config = model.zoo_config  # every source's model was built by zoo.get
    return _resolved({"model": config["name"], "overrides": dict(config["overrides"]),
                      "dataset": dataset, "image_size": image_size}, where)


def _datasets_taking(shape):
    """The named datasets of images of ``shape``, DEFAULT_DATASET first where it is one."""
    from zoo import datasets

    return sorted((name for name, spec in datasets.DATASETS.items()
                   if tuple(spec.shape) == shape), key=lambda name: name != DEFAULT_DATASET)


def _resolved(settings, where):
    """``settings`` as the run would record them (``zoo.config.Plan.config``), their
    dataset read where ``where`` (manual dir, data dir) says."""
    from zoo.config import RunConfig

    return dataclasses.asdict(RunConfig.of_settings(settings).plan(*where).config)
