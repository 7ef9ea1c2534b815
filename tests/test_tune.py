"""Hyperparameter search with keras-tuner: spaces, real searches, resume, failures, workers."""

import json
import math
import os
import signal
import socket
import subprocess
import sys

import pytest
import tf_keras

import zoo
from zoo import bench, recipes
from zoo.errors import ConfigError
from zoo.models.registry import Choice, IntRange, PositiveInt, builder, register
from zoo.tune import TuneError, ZooHyperModel, hyperparameters, search_space, tune

SMALL = ["hidden_units=32|64", "latent_dim=2:8", "batch_size=64"]
# Trials of 79 steps (the first 5,000 training images), judged on 1,000 validation images.
EXAMPLES = {"train_examples": 5000, "eval_examples": 1000}
# Settings that leave the network as it is (the optimizer's, the objective's weight).
ARCHITECTURE_FREE = ("learning_rate", "beta")


@pytest.mark.parametrize("model", sorted(zoo.list()))
def test_every_builder_declares_a_space_whose_values_build_models(model):
    space = search_space(model)
    assert {"latent_dim", "learning_rate", "batch_size"} <= set(space)
    with_beta = {"beta_vae", "beta_tcvae", "ciwae", "msssim_vae", "vae_gan"}
    assert ("beta" in space) == (model in with_beta)
    hypermodel = ZooHyperModel(zoo.RunConfig(model=model), space)
    built = {}  # by overrides: the low ends of the ranges not under test are the same trial

    def build(overrides):
        key = repr(sorted(overrides.items()))
        if key not in built:
            built[key] = zoo.get(model, **overrides)
        return built[key]

    for name, spec in space.items():  # each range's ends, one at a time, set the trial
        ends = (spec.values[0], spec.values[-1]) if isinstance(spec, Choice) else (
            spec.low, spec.high)
        for value in ends:
            hp = hyperparameters(space)
            hp.values[name] = value
            trial = hypermodel.trial_plan(hp).config
            if name == "batch_size":
                assert trial.batch_size == int(value)
                continue
            assert trial.overrides[name] == builder(model).field(name).parse(str(value))
            if name in ARCHITECTURE_FREE:
                continue  # the same network whatever the value: built once, below
            built_model = build(trial.overrides)  # a VQ-VAE's codes: a grid of latent_dim
            positions = math.prod(getattr(built_model.prior_layer, "grid", (1,)))
            assert built_model.latent_dim == trial.overrides["latent_dim"] * positions
    first = build(hypermodel.trial_plan(hyperparameters(space)).config.overrides)
    assert first.optimizer.learning_rate.numpy() == pytest.approx(
        hyperparameters(space).values["learning_rate"])


@pytest.mark.parametrize("kwargs, message", [
    ({"tuner": "randm"}, "unknown tuner 'randm'; did you mean 'random'\\? choose one of"),
    ({"max_trials": 0}, "max_trials must be an int >= 1, got 0"),
    ({"epochs": -1}, "epochs must be an int >= 1, got -1"),
    ({"ranges": ["latent_dim=32:8"]}, "latent_dim=32:8 is inverted; give LOW < HIGH"),
    ({"ranges": ["learning_rate=1e-3:1e-3"]}, "learning_rate=1e-3:1e-3 is empty"),
    ({"ranges": ["hidden_units=|"]}, "hidden_units= lists no values"),
    ({"ranges": ["hidden_units=64|x"]}, "cannot read hidden_units='x'"),
    ({"ranges": ["latent_dim=0:8"]}, "override latent_dim=0 is invalid"),
    ({"ranges": ["latnt_dim=2:8"]}, "did you mean 'latent_dim'"),
    ({"ranges": ["=2:8"]}, "--range takes NAME, NAME=LOW:HIGH or NAME=A|B"),
    ({"dataset": "mnits"}, "unknown dataset 'mnits'"),
    ({"train_examples": -1}, "train_examples must be an int >= 0, got -1"),
    ({"train_examples": 50_001}, "train_examples=50001 is more than the 50000 examples of "
                                 "binarized_mnist's train split; use at most 50000"),
    ({"train_examples": 5, "train": [0], "validation": [0]},
     "train_examples picks images of a named dataset; pass fewer images of your own instead"),
    ({"eval_examples": -1}, "eval_examples must be an int >= 0, got -1"),
    ({"eval_examples": 10_001}, "eval_examples=10001 is more than the 10000 examples of "
                                "binarized_mnist's validation split; use at most 10000"),
    ({"eval_examples": 5, "train": [0], "validation": [0]},
     "eval_examples picks images of a named dataset; pass fewer images of your own instead"),
])
def test_bad_search_settings_fail_before_any_training(tmp_path, kwargs, message, manual_dir):
    with pytest.raises(zoo.ZooError, match=message):
        tune("mlp_vae", directory=tmp_path, manual_dir=manual_dir, **kwargs)
    assert not list(tmp_path.rglob("trial.json"))


@pytest.fixture(scope="module")
def search(tmp_path_factory, manual_dir):
    """A finished 2-trial random search of mlp_vae, 1 epoch per trial."""
    folder = tmp_path_factory.mktemp("tuning")
    result = tune("mlp_vae", max_trials=2, epochs=1, directory=folder, ranges=SMALL,
                  manual_dir=manual_dir, verbose=0, **EXAMPLES)
    return folder, result


def test_a_search_reports_every_trial_and_writes_a_runnable_recipe(search, manual_dir,
                                                                   tmp_path):
    folder, result = search
    assert [row["status"] for row in result.trials] == ["COMPLETED", "COMPLETED"]
    assert all(100 < row["objective"] < 400 for row in result.trials)
    summary = result.summary().splitlines()
    assert summary[0].startswith("trial | status | val -ELBO (nats) | latent_dim")
    assert len(summary) == 3 and all("COMPLETED" in line for line in summary[1:])

    recipe = recipes.load(result.recipe_path)
    best = min(result.trials, key=lambda row: row["objective"])
    assert recipe.config.overrides["latent_dim"] == best["values"]["latent_dim"]
    assert recipe.config.batch_size == 64 and recipe.config.epochs == 1
    assert (recipe.config.train_examples, recipe.config.eval_examples) == (5000, 1000)
    ran = bench.run(result.recipe_path, tmp_path, manual_dir=manual_dir, verbose=0)
    assert ran["epochs_run"] == 1 and -400 < ran["test"]["elbo_nats"] < -100


def test_the_best_model_comes_back_with_its_trained_weights(search, load):
    _, result = search
    (model,) = result.tuner.get_best_models(1)
    assert isinstance(model, tf_keras.Model) and model.zoo_config["name"] == "mlp_vae"
    validation = load("binarized_mnist", "validation", 256, first=EXAMPLES["eval_examples"])
    elbo = zoo.evaluate(model, validation, verbose=0)["elbo_nats"]
    best = min(row["objective"] for row in result.trials)
    assert -elbo == pytest.approx(best, abs=1.5)  # one-sample Monte Carlo both ways


def test_a_model_without_an_elbo_is_searched_on_its_validation_loss(tmp_path, manual_dir):
    """aae (point-mass codes: no ELBO; a discriminator with an Adam of its own): a trial
    judged by val_loss at its best epoch, the summary's column headed by that name, the
    best trial's recipe watching it."""
    result = tune("aae", max_trials=1, epochs=2, directory=tmp_path, verbose=0,
                  ranges=["latent_dim=2:4", "batch_size=64"], manual_dir=manual_dir,
                  train_examples=640, eval_examples=256)
    (row,) = result.trials
    trial = next(iter(result.tuner.oracle.trials.values()))
    history = [observation.value[0] for observation in trial.metrics.get_history("val_loss")]
    assert row["status"] == "COMPLETED" and history  # (the best epoch's, as keras-tuner keeps)
    assert row["objective"] == min(history) and 0 < min(history) < 600
    assert not trial.metrics.exists("val_neg_elbo")
    assert result.summary().splitlines()[0] == "trial | status | val_loss | latent_dim | " \
                                               "batch_size | error"
    assert recipes.load(result.recipe_path).plan.config.monitor == "val_loss"


def test_another_search_in_the_same_folder_is_refused(search, manual_dir):
    folder, _ = search
    with pytest.raises(ConfigError, match="holds another search \\(its epochs differ\\); "
                                          "pick another --dir"):
        tune("mlp_vae", max_trials=2, epochs=2, directory=folder, ranges=SMALL,
             manual_dir=manual_dir)


def test_a_search_with_no_completed_trial_fails_and_says_why(tmp_path, manual_dir,
                                                             registered_names):
    calls = []
    registered_names.extend(["test_fragile_vae", "test_broken_vae"])

    @register("test_fragile_vae", space={"latent_dim": IntRange(1, 2)})
    def fragile(latent_dim: PositiveInt = 2):
        """Builds once (keras-tuner's look at the space, at start), then fails."""
        calls.append(latent_dim)
        if len(calls) > 1:
            raise ValueError(f"cannot build latent_dim={latent_dim}")
        return zoo.get("mlp_vae", latent_dim=latent_dim, hidden_units=(8,))

    with pytest.raises(TuneError, match=r"no trial completed; 2 trial\(s\) failed, e\.g\. "
                                        r"trial 0: ValueError: cannot build latent_dim="):
        tune("test_fragile_vae", max_trials=2, epochs=1, directory=tmp_path,
             ranges=["latent_dim", "batch_size=256"], manual_dir=manual_dir, verbose=0)

    @register("test_broken_vae", space={"latent_dim": IntRange(1, 2)})
    def broken(latent_dim: PositiveInt = 2):
        """Never builds."""
        raise ValueError(f"cannot build latent_dim={latent_dim}")

    with pytest.raises(TuneError, match=r"test_broken_vae does not build with the search's "
                                        r"first values \(ValueError: cannot build latent_dim="):
        tune("test_broken_vae", max_trials=2, epochs=1, directory=tmp_path / "b",
             manual_dir=manual_dir, verbose=0)


def zoo_tune(directory, manual_dir, *extra, env=None):
    """``zoo tune mlp_vae`` in a new process: trials of 1 epoch of 32 steps (the first 2,000
    training images) judged on 500 validation images."""
    ranges = [argument for text in SMALL for argument in ("--range", text)]
    return subprocess.Popen(
        [sys.executable, "-m", "zoo.cli", "tune", "mlp_vae", "--epochs", "1", "--dir",
         str(directory), "--manual-dir", str(manual_dir), *ranges, "--train-examples", "2000",
         "--eval-examples", "500", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})


@pytest.mark.parametrize("tuner", ["bayesian", "hyperband"])
def test_the_other_tuners_search_and_write_a_recipe(tuner, tmp_path, manual_dir):
    """(random: the command line below and the search fixture.)"""
    result = tune("mlp_vae", tuner=tuner, max_trials=1, epochs=1, directory=tmp_path,
                  ranges=[*SMALL, "hidden_units=32"], manual_dir=manual_dir, verbose=0,
                  train_examples=2000, eval_examples=500)
    assert [row["status"] for row in result.trials] == ["COMPLETED"] * len(result.trials)
    assert type(result.tuner.oracle).__name__.lower().startswith(tuner)
    best = recipes.load(result.recipe_path)
    assert (best.config.train_examples, best.config.eval_examples) == (2000, 500)


def test_an_interrupted_search_resumes_and_keeps_finished_trials(tmp_path, manual_dir):
    """``zoo tune`` from the command line, killed after its first trial and run again."""
    first = zoo_tune(tmp_path, manual_dir, "--max-trials", "2")
    project = tmp_path / "mlp_vae-binarized_mnist"
    trial_0 = project / "trial_0" / "trial.json"
    for line in first.stdout:  # keras-tuner ends trial 0 (trial.json, oracle.json) first
        if line.startswith("Search: Running Trial #2"):
            break
    state = json.loads(trial_0.read_text())
    assert state["status"] == "COMPLETED", state
    first.send_signal(signal.SIGKILL)
    first.wait()
    finished = json.loads(trial_0.read_text())

    second = zoo_tune(tmp_path, manual_dir, "--max-trials", "2")
    out, err = second.communicate(timeout=600)
    assert second.returncode == 0 and "Traceback" not in err, err[-2000:]
    rows = [line for line in out.splitlines() if "| COMPLETED |" in line]
    assert len(rows) == 2  # trial_0 kept, trial_1 run
    assert json.loads(trial_0.read_text())["metrics"] == finished["metrics"]  # not redone
    assert "Reloading Tuner" in out and "best recipe:" in out
    best = recipes.load(project / "best.toml")
    assert (best.config.train_examples, best.config.eval_examples) == (2000, 500)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_chief_and_two_workers_finish_a_search_together(tmp_path, manual_dir):
    oracle = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": str(free_port())}
    # The workers wait for the chief's oracle to answer (keras-tuner's wait_for_ready)
    chief = zoo_tune(tmp_path, manual_dir, "--max-trials", "2",  # a trial for each worker
                     env={**oracle, "KERASTUNER_TUNER_ID": "chief"})
    workers = [zoo_tune(tmp_path, manual_dir, "--max-trials", "2",
                        env={**oracle, "KERASTUNER_TUNER_ID": f"tuner{i}"}) for i in range(2)]
    outputs = [process.communicate(timeout=600) for process in (*workers, chief)]
    assert [p.returncode for p in (*workers, chief)] == [0, 0, 0], [
        error[-1500:] for _, error in outputs]
    assert all("worker done" in out for out, _ in outputs[:2])
    rows = [line for line in outputs[2][0].splitlines() if "| COMPLETED |" in line]
    assert len(rows) == 2
    assert len(list((tmp_path / "mlp_vae-binarized_mnist").glob("trial_*"))) == 2
