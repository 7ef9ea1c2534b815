"""keras-tuner's tuners for tf_keras models: drop-ins with the same names and signatures.

    from zoo import tuners                      # instead of: from keras_tuner import ...

    def build(hp):
        return zoo.get("mlp_vae", latent_dim=hp.Int("latent_dim", 8, 32))

    tuner = tuners.RandomSearch(build, objective="val_neg_elbo", max_trials=10,
                                directory="tuning", project_name="mlp")
    tuner.search(train, validation_data=valid, epochs=5, callbacks=[...])
    tuner.results_summary()
    best = tuner.get_best_models(1)[0]          # a trained zoo model (tf_keras)

``RandomSearch``, ``BayesianOptimization``, ``Hyperband`` and ``GridSearch`` are
keras-tuner's own classes with one more base, ``TfKerasTuner``. keras-tuner 1.4.8 tests
models against Keras 3 (installed beside tf_keras with TensorFlow), so its stock tuners
reject every tf_keras model, in ``search`` and in ``get_best_models`` (its issue 1039).
``TfKerasTuner`` overrides the two methods keras-tuner documents for overriding,
``run_trial`` and ``load_model``, and uses nothing else of keras-tuner's but public
attributes (``hypermodel``, ``oracle``, ``get_trial_dir``, ``executions_per_trial``,
``distribution_strategy``) and the ``tuner/...`` values Hyperband sets. Why not patch
keras-tuner on ``import zoo``: a patch would change keras-tuner for the user's Keras 3
models too, and would reach into its private modules, which change between releases; a
subclass that overrides documented hooks survives upgrades, and says plainly where the
zoo's behaviour begins.

What the drop-ins do like the stock tuners: the oracle (search algorithm, ``max_trials``,
resume from ``directory``), ``search(x, y=None, **fit_kwargs)`` with tf.data datasets or
arrays and the usual fit arguments and callbacks, ``executions_per_trial``,
``max_model_size``, ``results_summary``, ``get_best_hyperparameters``. What they add:
``objective`` may name a zoo metric without a direction (``val_neg_elbo``, ``val_loss``,
``val_reconstruction``, ``val_kl``, or without ``val_``: all minimised); the best epoch's
weights of each trial are kept by path (``zoo.weight_files.save_weights``), and
``get_best_models`` rebuilds the trial's model and loads them; a failing trial prints one
line with its error at once (keras-tuner records it INVALID silently until three in a row
fail).
"""

import contextlib
import copy
import math
import os
import pathlib
import sys

import keras_tuner
import tf_keras

from zoo import weight_files
from zoo.errors import ConfigError
from zoo.callbacks import BestWeights
from zoo.models.objectives import METRIC_DIRECTIONS

CHECKPOINT = "checkpoint.h5"  # the best epoch's weights, in each trial's folder


def zoo_objective(value):
    """``value`` as keras-tuner takes it, a zoo metric name (``val_neg_elbo``, an
    objective's own ``val_effective_sample_size``...) becoming an Objective to minimise or
    maximise as the metric's objective declares (``objectives.METRIC_DIRECTIONS``)."""
    if isinstance(value, str) and value.removeprefix("val_") in METRIC_DIRECTIONS:
        return keras_tuner.Objective(value, METRIC_DIRECTIONS[value.removeprefix("val_")])
    if isinstance(value, list):
        return [zoo_objective(item) for item in value]
    return value


class TfKerasTuner(keras_tuner.Tuner):
    """The trial loop of ``keras_tuner.Tuner`` for tf_keras models (see the module
    docstring): build with ``hypermodel.build(hp)``, train with ``hypermodel.fit(hp, model,
    ...)`` (``model.fit`` unless the HyperModel overrides it), keep the best epoch's
    weights, report the objective at the best epoch."""

    def run_trial(self, trial, *fit_args, **fit_kwargs):
        hp = trial.hyperparameters
        if "tuner/epochs" in hp.values:  # Hyperband's budget for this trial
            fit_kwargs.update(epochs=hp.values["tuner/epochs"],
                              initial_epoch=hp.values["tuner/initial_epoch"])
        callbacks = list(fit_kwargs.pop("callbacks", None) or [])
        name, direction = self._objective_name_and_direction()
        # A trial run again (retried, or running when a search was killed) starts afresh:
        # its checkpoint is the best epoch of this run's executions only.
        self._checkpoint(trial.trial_id).unlink(missing_ok=True)
        try:
            results = []
            for execution in range(self.executions_per_trial):
                model = self._built(hp)
                if "tuner/trial_id" in hp.values:  # Hyperband: carry on an earlier trial
                    weight_files.load_weights(model, self._checkpoint(hp.values["tuner/trial_id"]))
                best = BestWeights(self._checkpoint(trial.trial_id), monitor=name,
                                   direction=direction)
                history = self.hypermodel.fit(
                    hp, model, *fit_args, **fit_kwargs,
                    callbacks=[*_copied(callbacks, trial, execution), best])
                results.append(_at_best_epoch(history, name, direction))
            return results
        except Exception as error:  # keras-tuner records it; say so now, in one line
            lines = str(error).strip().splitlines() or [""]
            print(f"trial {trial.trial_id} failed: {type(error).__name__}: {lines[0]}",
                  file=sys.stderr)
            raise

    def load_model(self, trial):
        """The trial's model, rebuilt from its hyperparameters, with the weights of its
        best epoch."""
        model = self._built(trial.hyperparameters)
        weight_files.load_weights(model, self._checkpoint(trial.trial_id))
        return model

    def _built(self, hp):
        strategy = self.distribution_strategy
        with strategy.scope() if strategy else contextlib.nullcontext():
            model = self.hypermodel.build(hp)
        if not isinstance(model, tf_keras.Model):
            raise keras_tuner.errors.FatalTypeError(
                f"the build function returned a {type(model).__name__}; zoo.tuners are for "
                "tf_keras models (zoo.get gives one); for Keras 3 models use keras_tuner's own "
                "tuners")
        if self.max_model_size and model.count_params() > self.max_model_size:
            raise keras_tuner.errors.FailedTrialError(
                f"oversized model: {model.count_params()} parameters")
        return model

    def _objective_name_and_direction(self):
        goal = self.oracle.objective
        if hasattr(goal, "objectives"):  # a MultiObjective
            raise keras_tuner.errors.FatalValueError(
                "zoo.tuners keep one best epoch per trial: give one objective")
        return goal.name, goal.direction

    def _checkpoint(self, trial_id):
        return pathlib.Path(self.get_trial_dir(trial_id)) / CHECKPOINT


def _at_best_epoch(history, name, direction):
    """Every metric of ``history`` at the epoch where ``name`` was best."""
    values = history.history.get(name)
    if not values:
        raise keras_tuner.errors.FatalValueError(
            f"the objective {name} is not among the logged metrics "
            f"({', '.join(history.history) or 'none'}); pass validation_data for val_ "
            "metrics, or name one of those")
    sign = 1 if direction == "min" else -1
    finite = [(sign * v, epoch) for epoch, v in enumerate(values) if math.isfinite(v)]
    if not finite:
        raise keras_tuner.errors.FailedTrialError(f"{name} was never finite (NaN or inf in "
                                                  "every epoch)")
    epoch = min(finite)[1]
    return {key: series[epoch] for key, series in history.history.items()
            if len(series) == len(values)}


def _copied(callbacks, trial, execution):
    """The user's callbacks, deep-copied for one execution (keras-tuner's way: no state
    carried between trials), a TensorBoard's log_dir given the trial and execution."""
    copies = copy.deepcopy(callbacks)
    for callback in copies:
        if isinstance(callback, tf_keras.callbacks.TensorBoard):
            callback.log_dir = os.path.join(callback.log_dir, str(trial.trial_id),
                                            f"execution{execution}")
    return copies


def _drop_in(stock):
    """``stock`` (a keras_tuner tuner class) on ``TfKerasTuner``; same signature."""

    def __init__(self, hypermodel=None, objective=None, *args, **kwargs):
        given = [key for key in ("optimizer", "loss", "metrics") if kwargs.get(key)]
        if given:
            raise ConfigError(f"zoo.tuners take no {', '.join(given)}: compile the model in "
                              "the build function (the loss and metrics are its objective's)")
        stock.__init__(self, hypermodel, zoo_objective(objective), *args, **kwargs)

    return type(stock.__name__, (stock, TfKerasTuner), {
        "__init__": __init__, "__module__": __name__,
        "__doc__": f"``keras_tuner.{stock.__name__}`` for tf_keras models (zoo.tuners)."})


RandomSearch = _drop_in(keras_tuner.RandomSearch)
BayesianOptimization = _drop_in(keras_tuner.BayesianOptimization)
Hyperband = _drop_in(keras_tuner.Hyperband)
GridSearch = _drop_in(keras_tuner.GridSearch)
