"""Hyperparameter search with keras-tuner over a builder's search space.

The objective is the validation -ELBO in nats per example (``val_neg_elbo``, minimised),
the best epoch of each trial. Each builder declares its space beside it (``register(...,
space=...)``); the batch size is searched for every builder. ``ZooTuner`` subclasses
``keras_tuner.Tuner`` and overrides ``run_trial`` and ``load_model``: keras-tuner 1.4.8
refuses tf_keras models when Keras 3 is installed (its issue 1039), and ignores
``distribution_strategy`` once ``run_trial`` is overridden, so trials build their model in
``zoo.strategy().scope()`` themselves.

keras-tuner records a trial that raises as INVALID and says nothing until three in a row
fail; ``tune`` reports every failed trial with its error and raises ``TuneError`` when no
trial completed. Distributed search uses keras-tuner's chief/worker mode: the same command
on every machine, with KERASTUNER_TUNER_ID (``chief`` or ``tuner0``, ``tuner1``...),
KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT and a directory all of them share.
"""

import dataclasses
import functools
import math
import pathlib
import shutil

import keras_tuner
import tf_keras
from keras_tuner.src.distribute import utils as distribution

from zoo import data, recipes, runs
from zoo.errors import ConfigError, ZooError, did_you_mean, require_int
from zoo.models.registry import Choice, FloatRange, IntRange, builder, get
from zoo.train import BestWeights, RunConfig, strategy

OBJECTIVE = "val_neg_elbo"
BATCH_SIZES = Choice(("64", "128", "256"))
ORACLES = {"random": keras_tuner.oracles.RandomSearchOracle,
           "bayesian": keras_tuner.oracles.BayesianOptimizationOracle,
           "hyperband": keras_tuner.oracles.HyperbandOracle}
SEARCH_FILE, CHECKPOINT = "zoo_search.json", "checkpoint.h5"  # runs.save_weights


class TuneError(ZooError, RuntimeError):
    """A search in which no trial completed."""


def search_space(model, ranges=()):
    """The builder's space plus ``batch_size``, with ``ranges`` ("name=LOW:HIGH" for a range,
    "name=A|B|C" for a choice) replacing entries; checked before any training."""
    space = {**builder(model).space, "batch_size": BATCH_SIZES}
    for text in ranges:
        name, equals, value = text.partition("=")
        if not equals or name not in space:
            hint = did_you_mean(name, space)
            raise ConfigError(f"--range takes NAME=LOW:HIGH or NAME=A|B; {model} searches "
                              f"{', '.join(space)}, got '{text}'; {hint}".rstrip("; "))
        space[name] = _parsed_range(model, name, value, space[name])
    return space


def _parsed_range(model, name, text, current):
    if isinstance(current, Choice):
        values = tuple(v.strip() for v in text.split("|") if v.strip())
        if not values:
            raise ConfigError(f"--range {name}= lists no values; write e.g. {name}="
                              f"{'|'.join(current.values[:2])}")
        for value in values:
            _override(model, name, value)  # each must be a valid override
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
        _override(model, name, str(value))
    if current.log and low <= 0:
        raise ConfigError(f"--range {name}={text}: a log-scale range needs LOW > 0")
    return dataclasses.replace(current, low=low, high=high)


def _override(model, name, text):
    if name == "batch_size":
        if not text.isdigit() or int(text) < 1:
            raise ConfigError(f"batch_size values must be ints >= 1, got '{text}'")
        return int(text)
    return builder(model).field(name).parse(text)


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


class ZooTuner(keras_tuner.Tuner):
    """A keras-tuner Tuner whose trials are zoo models trained with ``model.fit``."""

    def __init__(self, oracle, config, space, *, manual_dir=None, data_dir=None, **kwargs):
        super().__init__(oracle, **kwargs)
        self.config, self.space = config, space
        self.manual_dir, self.data_dir = manual_dir, data_dir

    def trial_config(self, hp):
        """The RunConfig of a trial: the base config with the trial's values."""
        values = {name: _override(self.config.model, name, str(hp.get(name)))
                  for name in self.space}
        batch_size = values.pop("batch_size")
        return dataclasses.replace(self.config, overrides={**self.config.overrides, **values},
                                   batch_size=batch_size).resolved()

    def run_trial(self, trial, *, verbose=1, callbacks=()):
        hp = trial.hyperparameters
        config = self.trial_config(hp)
        load = functools.partial(config.load, manual_dir=self.manual_dir,
                                 data_dir=self.data_dir)
        steps = data.batches_per_pass(data.examples_in(config.dataset, "train",
                                                       self.manual_dir, self.data_dir),
                                      config.batch_size)
        with strategy().scope():
            model = config.compiled(get(config.model, **config.overrides), steps)
        if "tuner/trial_id" in hp.values:  # Hyperband: continue an earlier trial
            runs.load_weights(model, self._checkpoint(hp.values["tuner/trial_id"]))
        checkpoint = BestWeights(self._checkpoint(trial.trial_id), monitor=OBJECTIVE)
        history = model.fit(load("train"), validation_data=load("validation"),
                            epochs=hp.values.get("tuner/epochs", config.epochs),
                            initial_epoch=hp.values.get("tuner/initial_epoch", 0),
                            callbacks=[*config.callbacks(), checkpoint, *callbacks],
                            verbose=verbose)
        return {OBJECTIVE: min(history.history[OBJECTIVE])}

    def load_model(self, trial):
        config = self.trial_config(trial.hyperparameters)
        with strategy().scope():
            model = get(config.model, **config.overrides)
        runs.load_weights(model, self._checkpoint(trial.trial_id))
        return model

    def _checkpoint(self, trial_id):
        return str(pathlib.Path(self.get_trial_dir(trial_id)) / CHECKPOINT)


@dataclasses.dataclass
class SearchResult:
    """What ``tune`` found: the tuner, every trial's row, and the best trial's recipe."""

    tuner: ZooTuner
    trials: list
    recipe_path: pathlib.Path = None

    def summary(self):
        """A text table of trials: id, status, objective, values, error."""
        names = list(self.tuner.space)
        lines = [" | ".join(["trial", "status", "val -ELBO (nats)", *names, "error"])]
        for row in self.trials:
            objective = "" if row["objective"] is None else f"{row['objective']:.2f}"
            lines.append(" | ".join([row["trial"], row["status"], objective,
                                     *(_show(row["values"].get(n, "")) for n in names),
                                     row["error"]]))
        return "\n".join(lines)


def tune(model, *, dataset="binarized_mnist", binarization=None, tuner="random",
         max_trials=10, epochs=5, directory="tuning", project=None, ranges=(), seed=0,
         overwrite=False, manual_dir=None, data_dir=None, verbose=1):
    """Searches ``model``'s space; returns a SearchResult. Writes the best trial's recipe
    to ``DIRECTORY/PROJECT/best.toml``. Every argument is checked before any training."""
    if tuner not in ORACLES:
        hint = did_you_mean(tuner, ORACLES)
        raise ConfigError(f"unknown tuner '{tuner}'; {hint}choose one of {', '.join(ORACLES)}")
    require_int("max_trials", max_trials)
    require_int("epochs", epochs)
    config = RunConfig(model=model, dataset=dataset, binarization=binarization,
                       epochs=epochs, seed=seed).resolved()
    space = search_space(model, ranges)
    project = project or f"{model}-{dataset}"
    folder = pathlib.Path(directory) / project
    _claim(folder, {"model": model, "dataset": dataset, "binarization": config.binarization,
                    "tuner": tuner, "epochs": epochs, "seed": seed,
                    "space": {k: dataclasses.asdict(v) for k, v in space.items()}}, overwrite)
    data.prepared_builder(dataset, manual_dir=manual_dir, data_dir=data_dir)  # fail fast

    objective = keras_tuner.Objective(OBJECTIVE, direction="min")
    budget = ({"max_epochs": epochs} if tuner == "hyperband" else {"max_trials": max_trials})
    oracle = ORACLES[tuner](objective=objective, hyperparameters=hyperparameters(space),
                            tune_new_entries=False, seed=seed, **budget)
    search = ZooTuner(oracle, config, space, directory=str(directory), project_name=project,
                      manual_dir=manual_dir, data_dir=data_dir)
    tf_keras.utils.set_random_seed(seed)
    try:
        search.search(verbose=verbose)
    except RuntimeError as error:  # keras-tuner: "consecutive failures exceeded the limit"
        if "consecutive failures" not in str(error):
            raise
    if distribution.has_chief_oracle() and not distribution.is_chief_oracle():
        return SearchResult(search, [])  # a worker: the chief holds the results
    result = SearchResult(search, _trial_rows(search))
    if not any(row["status"] == "COMPLETED" for row in result.trials):
        raise TuneError(f"no trial completed; {_first_error(result.trials)}")
    best = search.oracle.get_best_trials(1)[0]
    best_config = dataclasses.replace(search.trial_config(best.hyperparameters),
                                      log_likelihood_samples=0)
    result.recipe_path = folder / "best.toml"
    recipes.write(recipes.Recipe("best", best_config, {}), result.recipe_path)
    return result


def _show(value):
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _claim(folder, identity, overwrite):
    """Refuses a folder holding another search (model, data, tuner, epochs or space)."""
    marker = folder / SEARCH_FILE
    if marker.is_file() and not overwrite:
        previous, identity_read = runs.read_json(marker), runs.json_roundtrip(identity)
        if previous != identity_read:
            changed = sorted(k for k in identity if previous.get(k) != identity_read[k])
            raise ConfigError(f"{folder} holds another search (its {', '.join(changed)} "
                              "differ); pick another --dir or --project, or pass --overwrite")
    if overwrite and folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True, exist_ok=True)
    runs.write_json(marker, identity)


def _trial_rows(search):
    rows = []
    for trial in sorted(search.oracle.trials.values(), key=lambda t: int(t.trial_id)):
        objective = trial.metrics.get_best_value(OBJECTIVE) if trial.metrics.exists(
            OBJECTIVE) else None
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
