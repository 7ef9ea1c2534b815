"""Hyperparameter search with keras-tuner over a builder's search space.

The objective is the run's monitor, minimised at the best epoch of each trial: the
validation -ELBO in nats per example (``val_neg_elbo``), or, for a model without an ELBO
(an autoencoder's point-mass codes), its validation loss (``val_loss``). Each builder
declares its space beside it (``register(..., space=...)``); the batch size is searched
too, unless the data come batched. ``ranges`` name what to search: then only those, each
with the given range or, named alone, the builder's. The search is a ``ZooHyperModel``
(build = the builder with the trial's values; fit = ``model.fit`` on the run's data) run by
a tuner of ``zoo.tuners``: keras-tuner's own classes made to take tf_keras models, the same
ones a user's own build function uses (one code path).

keras-tuner records a trial that raises as INVALID and says nothing until three in a row
fail; ``tune`` reports every failed trial with its error and raises ``TuneError`` when no
trial completed. Distributed search uses keras-tuner's chief/worker mode: the same command
on every machine, with KERASTUNER_TUNER_ID (``chief`` or ``tuner0``, ``tuner1``...),
KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT and a directory all of them share.
"""

import dataclasses
import hashlib
import math
import pathlib
import random
import shutil

import keras_tuner
import numpy as np
import tensorflow as tf
import tf_keras

from zoo import compat, data, datasets, files, recipes, tuners
from zoo.errors import ConfigError, ZooError, did_you_mean, require_int
from zoo.models.registry import Choice, FloatRange, IntRange, builder, get
from zoo.callbacks import FullEpochs
from zoo.config import RunConfig
from zoo.devices import active_strategy
from zoo.train import compiled, run_callbacks, training_data

BATCH_SIZES = Choice(("64", "128", "256"))
TUNERS = {"random": tuners.RandomSearch, "bayesian": tuners.BayesianOptimization,
          "hyperband": tuners.Hyperband}
SEARCH_FILE = "zoo_search.json"


class TuneError(ZooError, RuntimeError):
    """A search in which no trial completed."""


def search_space(model, ranges=(), batch_size=True):
    """What to search in ``model`` (a registered name or its Builder): the builder's space
    plus ``batch_size`` (unless the data come batched), or, given ``ranges``, only the
    entries they name: "name=LOW:HIGH" for a range, "name=A|B|C" for a choice, "name" alone
    for the builder's own. Checked before any training."""
    entry = builder(model) if isinstance(model, str) else model
    declared = {**entry.space, **({"batch_size": BATCH_SIZES} if batch_size else {})}
    if not ranges:
        return declared
    space = {}
    for text in ranges:
        name, equals, value = text.partition("=")
        if name == "batch_size" and not batch_size:
            raise ConfigError("--range batch_size: the data come batched already; pass "
                              "arrays to search the batch size")
        if name not in declared:
            hint = did_you_mean(name, declared)
            raise ConfigError(f"--range takes NAME, NAME=LOW:HIGH or NAME=A|B; {entry.name} "
                              f"searches {', '.join(declared)}, got '{text}'; "
                              f"{hint}".rstrip("; "))
        space[name] = (_parsed_range(entry, name, value, declared[name]) if equals
                       else declared[name])
    return {name: space[name] for name in declared if name in space}  # declared order


def _parsed_range(entry, name, text, current):
    if isinstance(current, Choice):
        values = tuple(v.strip() for v in text.split("|") if v.strip())
        if not values:
            raise ConfigError(f"--range {name}= lists no values; write e.g. {name}="
                              f"{'|'.join(current.values[:2])}")
        for value in values:
            _override(entry, name, value)  # each must be a valid override
        return Choice(values)
    kind = int if isinstance(current, IntRange) else float
    try:
        low, high = (kind(part) for part in text.split(":"))
    except ValueError:
        raise ConfigError(f"--range {name}={text} is not LOW:HIGH of {kind.__name__}s; e.g. "
                          f"{name}={current.low}:{current.high}") from None
    if low > high or (kind is float and low == high):
        raise ConfigError(f"--range {name}={text} is {'inverted' if low > high else 'empty'}; "
                          f"give LOW < HIGH, e.g. {name}={current.low}:{current.high}")
    for value in (low, high):
        _override(entry, name, str(value))
    if current.log and low <= 0:
        raise ConfigError(f"--range {name}={text}: a log-scale range needs LOW > 0")
    return dataclasses.replace(current, low=low, high=high)


def _override(entry, name, text):
    """The value of ``name`` that ``text`` writes, checked against the Builder ``entry``
    (``batch_size``: an int >= 1)."""
    if name == "batch_size":
        if not text.isdigit() or int(text) < 1:
            raise ConfigError(f"batch_size values must be ints >= 1, got '{text}'")
        return int(text)
    return entry.field(name).parse(text)


def hyperparameters(space):
    """A keras_tuner HyperParameters declaring ``space``."""
    hp = keras_tuner.HyperParameters()
    for name, spec in space.items():
        if isinstance(spec, Choice):
            hp.Choice(name, list(spec.values))
        elif isinstance(spec, IntRange):
            hp.Int(name, spec.low, spec.high, sampling="log" if spec.log else "linear")
        elif isinstance(spec, FloatRange):
            hp.Float(name, spec.low, spec.high, sampling="log" if spec.log else "linear")
    return hp


class ZooHyperModel(keras_tuner.HyperModel):
    """A builder's search as a keras-tuner HyperModel. ``build(hp)``: the builder with the
    trial's values (``plan``, a run resolved once, supplies the rest; a RunConfig is
    resolved here), compiled as ``zoo train`` compiles it; ``fit(hp, model, ...)``:
    ``model.fit`` on the plan's dataset batched at the trial's batch size, or on the
    user's ``train`` and ``validation`` data (tf.data datasets, or arrays of images).
    ``manual_dir``, ``data_dir``: where the plan's data are, if given."""

    def __init__(self, plan, space, *, train=None, validation=None, manual_dir=None,
                 data_dir=None):
        if isinstance(plan, RunConfig):
            plan = plan.plan(manual_dir, data_dir)
        elif manual_dir or data_dir:
            plan = plan.reading(manual_dir, data_dir)
        super().__init__(name=plan.config.model)
        self.plan, self.space = plan, space
        self.train, self.validation = train, validation
        self.build_error = None
        self._trials = {}  # the trial's values -> its Plan: resolved once for build and fit

    def trial_plan(self, hp):
        """The Plan of a trial: the base plan with the trial's values."""
        values = {name: _override(self.plan.builder, name, str(hp.get(name)))
                  for name in self.space}
        key = tuple(sorted((name, repr(value)) for name, value in values.items()))
        if key not in self._trials:
            batch_size = values.pop("batch_size", self.plan.config.batch_size)
            self._trials[key] = self.plan.trial(values, batch_size)
        return self._trials[key]

    def build(self, hp):
        plan = self.trial_plan(hp)
        try:
            model = plan.model(self._examples(plan), from_data=self.train is None)
            return compiled(plan, model, self._steps(plan))
        except Exception as error:
            self.build_error = error  # tune tells it from keras-tuner's own failures
            raise

    def fit(self, hp, model, *args, callbacks=(), **kwargs):
        plan = self.trial_plan(hp)
        kwargs.setdefault("epochs", plan.config.epochs)
        callbacks = [*run_callbacks(plan), *callbacks]
        if self.train is None:  # zoo train's input path, every replica its block
            train = training_data(plan, model, model.distribute_strategy)
            validation = plan.load("validation", labels=model.conditional)
            return FullEpochs.fit(model, train, self._steps(plan), callbacks,
                                  validation_data=validation, **kwargs)
        if not isinstance(self.train, tf.data.Dataset):
            kwargs.setdefault("batch_size", plan.config.batch_size)
        return model.fit(self.train, *args, validation_data=self.validation,
                         callbacks=callbacks, **kwargs)

    def _examples(self, plan):
        """The number of training examples (None for a dataset of the user's own)."""
        if self.train is None:
            return plan.examples["train"]
        if isinstance(self.train, tf.data.Dataset):
            return None
        return len(self.train)

    def _steps(self, plan):
        """Training batches per epoch (the KL warm-up is counted in them)."""
        if self.train is None:
            return plan.steps_per_epoch
        if isinstance(self.train, tf.data.Dataset):
            return max(int(self.train.cardinality()), 0)
        return data.batches_per_pass(len(self.train), plan.config.batch_size)


# How the summary heads a monitor's column (others by their names: val_loss, in the
# objective's own units)
OBJECTIVE_HEADINGS = {"val_neg_elbo": "val -ELBO (nats)"}


@dataclasses.dataclass
class SearchResult:
    """What ``tune`` found: the tuner (``zoo.tuners``), the space searched, every trial's
    row, the objective (the run's monitor) and the best trial's recipe (with a named
    dataset)."""

    tuner: keras_tuner.Tuner
    space: dict
    trials: list
    objective: str = "val_neg_elbo"
    recipe_path: pathlib.Path = None

    def summary(self):
        """A text table of trials: id, status, objective, values, error."""
        names = list(self.space)
        heading = OBJECTIVE_HEADINGS.get(self.objective, self.objective)
        lines = [" | ".join(["trial", "status", heading, *names, "error"])]
        for row in self.trials:
            objective = "" if row["objective"] is None else f"{row['objective']:.2f}"
            lines.append(" | ".join([row["trial"], row["status"], objective,
                                     *(_show(row["values"].get(n, "")) for n in names),
                                     row["error"]]))
        return "\n".join(lines)


def tune(model, *, dataset="binarized_mnist", binarization=None, train=None,
         validation=None, tuner="random", max_trials=10, epochs=5, directory="tuning",
         project=None, ranges=(), seed=0, overwrite=False, manual_dir=None, data_dir=None,
         verbose=1, train_examples=0, eval_examples=0, image_size=None):
    """Searches ``model``'s space; returns a SearchResult. Every argument is checked before
    any training.

    The data are ``dataset``'s train and validation splits, or ``train`` and
    ``validation`` given (tf.data datasets of image batches, or arrays of images; the
    batch size is searched only for arrays). With a named dataset, the best trial's recipe
    is written to ``DIRECTORY/PROJECT/best.toml``. ``ranges``: see ``search_space``.
    ``train_examples``: every trial trains on the named dataset's first this many training
    images (0: all); ``eval_examples``: every trial is judged on the first this many
    validation images (0: all). The best recipe keeps both (delete them there to train and
    test on the whole splits). ``image_size``: (H, W) to resize a named dataset's images
    to (``zoo.datasets``).
    """
    if tuner not in TUNERS:
        hint = did_you_mean(tuner, TUNERS)
        raise ConfigError(f"unknown tuner '{tuner}'; {hint}choose one of {', '.join(TUNERS)}")
    require_int("max_trials", max_trials)
    require_int("epochs", epochs)
    own_data = train is not None or validation is not None
    if own_data:
        if train is None or validation is None:
            raise ConfigError("pass both train and validation (the objective is the "
                              "validation -ELBO or loss), or neither to use a named dataset")
        for setting, value in (("train_examples", train_examples),
                               ("eval_examples", eval_examples)):
            if value:
                raise ConfigError(f"{setting} picks images of a named dataset; pass fewer "
                                  "images of your own instead")
        probe = get(model)  # the builder's defaults: what images it takes
        train = probe.checked(train, "training data")
        validation = probe.checked(validation, "validation data")
        dataset = "own"
    plan = RunConfig(model=model, dataset="binarized_mnist" if own_data else dataset,
                     binarization=binarization, epochs=epochs, seed=seed,
                     train_examples=train_examples, eval_examples=eval_examples,
                     image_size=None if own_data else image_size).plan(manual_dir, data_dir)
    config = plan.config
    space = search_space(plan.builder, ranges,
                         batch_size=not isinstance(train, tf.data.Dataset))
    project = project or f"{model}-{datasets.short_name(dataset)}"
    folder = pathlib.Path(directory) / project
    identity = {"model": model, "dataset": dataset, "tuner": tuner, "epochs": epochs,
                "seed": seed, "space": {k: dataclasses.asdict(v) for k, v in space.items()}}
    if own_data:  # other data in the same folder is another search, never a resumed one
        identity["data"] = [_fingerprint(train), _fingerprint(validation)]
    else:
        plan.examples  # counted: fail fast on the data and the examples
        identity["binarization"] = config.binarization
        identity["dataset"] = config.dataset  # (a folder's absolute path)
        for setting in ("train_examples", "eval_examples", "image_size"):  # (absent when
            if getattr(config, setting):  # unset: folders of earlier searches still resume)
                identity[setting] = getattr(config, setting)
    _claim(folder, identity, overwrite)

    hypermodel = ZooHyperModel(plan, space, train=train, validation=validation)
    budget = ({"max_epochs": epochs} if tuner == "hyperband" else {"max_trials": max_trials})
    # keras-tuner's oracle takes seed 0 for none and draws its own from Python's random
    # (`seed or random.randint(1, 10000)`): seeded here, the search is the same in every
    # process.
    random.seed(seed)
    try:  # keras-tuner builds a model with the space's first values, to look at it
        search = TUNERS[tuner](hypermodel, keras_tuner.Objective(config.monitor, direction="min"),
                               hyperparameters=hyperparameters(space), tune_new_entries=False,
                               seed=seed, directory=str(directory), project_name=project,
                               distribution_strategy=active_strategy(), **budget)
    except Exception as error:
        if error is not hypermodel.build_error:
            raise
        lines = str(error).strip().splitlines() or [""]
        raise TuneError(f"{model} does not build with the search's first values "
                        f"({type(error).__name__}: {lines[0]})") from error
    tf_keras.utils.set_random_seed(seed)
    try:
        search.search(verbose=verbose)
    except RuntimeError as error:  # keras-tuner: "consecutive failures exceeded the limit"
        if "consecutive failures" not in str(error):
            raise
    if compat.is_tuner_worker():
        return SearchResult(search, space, [], config.monitor)  # the chief holds the rows
    result = SearchResult(search, space, _trial_rows(search, config.monitor), config.monitor)
    if not any(row["status"] == "COMPLETED" for row in result.trials):
        raise TuneError(f"no trial completed; {_first_error(result.trials)}")
    if not own_data:
        best = search.oracle.get_best_trials(1)[0]
        best_plan = hypermodel.trial_plan(best.hyperparameters)
        best_plan = dataclasses.replace(best_plan, settings=dataclasses.replace(
            best_plan.config, log_likelihood_samples=0))
        result.recipe_path = folder / "best.toml"
        recipes.write(recipes.Recipe("best", best_plan, {}), result.recipe_path)
    return result


def _fingerprint(images):
    """What identifies a user's data: an array's shape and SHA-256, a dataset's element
    spec and length."""
    if isinstance(images, tuple):  # (images, labels)
        return [_fingerprint(part) for part in images]
    if isinstance(images, tf.data.Dataset):
        return f"dataset {images.element_spec} x {int(images.cardinality())}"
    values = np.ascontiguousarray(images)
    return f"array {values.shape} {hashlib.sha256(values.tobytes()).hexdigest()}"


def _show(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _claim(folder, identity, overwrite):
    """Refuses a folder holding another search (model, data, tuner, epochs or space)."""
    marker = folder / SEARCH_FILE
    if marker.is_file() and not overwrite:
        previous, identity_read = files.read_json(marker), files.json_roundtrip(identity)
        if previous != identity_read:
            changed = sorted(k for k in identity if previous.get(k) != identity_read[k])
            raise ConfigError(f"{folder} holds another search (its {', '.join(changed)} "
                              "differ); pick another --dir or --project, or pass --overwrite")
    if overwrite and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files.write_json(marker, identity)


def _trial_rows(search, name):
    rows = []
    for trial in sorted(search.oracle.trials.values(), key=lambda t: int(t.trial_id)):
        objective = trial.metrics.get_best_value(name) if trial.metrics.exists(
            name) else None
        error = (trial.message or "").strip().splitlines()
        rows.append({"trial": trial.trial_id, "status": str(trial.status),
                     "objective": None if objective is None or math.isnan(objective)
                     else objective,
                     "values": {k: v for k, v in trial.hyperparameters.values.items()
                                if not k.startswith("tuner/")},
                     "error": error[-1] if error else ""})
    return rows


def _first_error(rows):
    failed = [row for row in rows if row["error"]]
    if not failed:
        return "no trial ran; raise --max-trials"
    return (f"{len(failed)} trial(s) failed, e.g. trial {failed[0]['trial']}: "
            f"{failed[0]['error']}")
