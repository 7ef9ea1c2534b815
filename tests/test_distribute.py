"""Distributed training through the zoo's own paths, against one device: strategies entered in
Python, --cpu-replicas from the command line (killed and resumed, against the entered
MirroredStrategy's run), two workers, a tune trial and evaluate under replicas."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import zoo
from processes import elbo_line, finished, free_ports, killed_and_resumed, zoo_train
from zoo import cli, runs, weight_files

HERE = pathlib.Path(__file__).resolve().parent


# The reference run, on one device and no strategy; replica_check.py's CONFIG is the same
# run (the test compares their run.json). 3 epochs of 40 steps inside a KL warm-up, the last
# batch of 9 rows: 5 + 4 on two replicas or two workers; validated and tested on 1,000 images
# (the last batch of 104 rows: 52 + 52).
REFERENCE = ["mlp_vae", "--latent-dim", "2", "--set", "hidden_units=64", "--batch-size", "128",
             "--eval-samples", "2", "--deterministic", "--epochs", "3",
             "--kl-warmup-epochs", "3", "--train-examples", "5001", "--eval-examples", "1000"]


@pytest.fixture(scope="module")
def distributed(manual_dir, tmp_path_factory):
    """REFERENCE by `zoo train` in ``alone/`` (in this process, one device: no fresh process
    needed), and beside it replica_check.py's runs under strategies entered in Python, in a
    process with a split CPU (``entered/``: report.json, NAME.npz weights)."""
    folder = tmp_path_factory.mktemp("distributed")
    (folder / "entered").mkdir()
    check = subprocess.Popen([sys.executable, str(HERE / "replica_check.py"),
                              str(folder / "entered"), str(manual_dir)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    cli.main(["train", *REFERENCE, "--manual-dir", str(manual_dir), "--out",
              str(folder / "alone")])
    finished(check)
    return folder


def entered(distributed):
    report = json.loads((distributed / "entered" / "report.json").read_text())
    weights = {path.stem: list(np.load(path).values())
               for path in (distributed / "entered").glob("*.npz")}
    return report, weights


def run_of(folder):
    """What a run folder records of its training: steps, history, test ELBO, final weights,
    and the best epoch's weights and record (best.h5)."""
    metrics = json.loads((folder / "metrics.json").read_text())
    model = zoo.load(folder)
    weights = [v.numpy() for v in model.trainable_variables]
    weight_files.load_weights(model, folder / runs.BEST_WEIGHTS)
    return {"optimizer_steps": metrics["optimizer_steps"], "history": metrics["history"],
            "test": metrics["test"], "run": metrics["run"], "weights": weights,
            "best": weight_files.weights_attributes(folder / runs.BEST_WEIGHTS),
            "best_weights": [v.numpy() for v in model.trainable_variables]}


# How far replicas' weights may end from one device's, as a fraction of how far training
# moved them: two half-batch gradient sums round other than one whole-batch sum, and Adam,
# which divides by the root of each gradient's square, amplifies that over 120 steps. Seen:
# under 1e-4 on the 2-core VMs of earlier sessions, 9.3e-4 on the one of 2026-12-03 (same
# TensorFlow 2.21.0); the histories stay within 1e-4 and the test ELBO within 0.05 nats.
ROUNDING = 5e-3


def assert_trains_like(run, reference, initial):
    """The same optimizer steps, every epoch's history within float rounding, weights within
    ROUNDING of their movement, test ELBO within 0.05 nats."""
    assert run["run"] == reference["run"]
    assert run["optimizer_steps"] == reference["optimizer_steps"] == 3 * 40
    assert run["history"].keys() == reference["history"].keys()
    for name, values in reference["history"].items():
        assert len(values) == 3
        assert run["history"][name] == pytest.approx(values, rel=1e-4, abs=1e-4), name
    moved = largest_difference(reference["weights"], initial)
    assert moved > 0.01
    assert largest_difference(run["weights"], reference["weights"]) < ROUNDING * moved
    assert run["test"]["elbo_nats"] == pytest.approx(reference["test"]["elbo_nats"], abs=0.05)
    if "best" in run:  # a run folder's best.h5: the same epoch, its weights alike
        assert run["best"]["epoch"] == reference["best"]["epoch"]
        assert largest_difference(run["best_weights"], reference["best_weights"]) < (
            ROUNDING * moved)


def largest_difference(weights, others):
    """The largest absolute difference between two lists of arrays of the same shapes."""
    return max(float(abs(a - b).max()) for a, b in zip(weights, others, strict=True))


def test_entered_strategies_train_like_no_strategy(distributed):
    """zoo.train inside a OneDeviceStrategy and inside a MirroredStrategy over 2 logical
    CPUs, each against the same run with no strategy."""
    report, weights = entered(distributed)
    assert report["process_strategy"] == ["MirroredStrategy", 2]  # zoo.cpu_replicas(2)
    reference = run_of(distributed / "alone")
    for name, strategy, replicas in (("one_device", "OneDeviceStrategy", 1),
                                     ("mirrored", "MirroredStrategy", 2)):
        assert report[name]["distribution"] == {"strategy": strategy, "replicas": replicas}
        assert_trains_like({**report[name], "weights": weights[name]}, reference,
                           weights["initial"])


def test_evaluate_under_mirrored_replicas_gives_the_numbers_of_one_device(distributed):
    evaluated = entered(distributed)[0]["evaluate"]
    assert evaluated["mirrored"] == evaluated["outside"]
    assert evaluated["mirrored"]["examples"] == 512


@pytest.mark.parametrize("model", ["mlp_vae", "cvae"])
def test_a_tune_trial_under_mirrored_replicas_trains_like_one_device(distributed, manual_dir,
                                                                     tmp_path, model):
    report, weights = entered(distributed)
    search = zoo.tune(model, directory=str(tmp_path), manual_dir=manual_dir, verbose=0,
                      **report["tune_settings"], **report["tuned"][model])
    trial = next(iter(search.tuner.oracle.trials.values()))
    mirrored = report[f"tune_{model}"]
    assert trial.hyperparameters.values == mirrored["values"]  # the same search
    assert set(mirrored["metrics"]) >= {"val_neg_elbo", "neg_elbo"}
    for name, values in mirrored["metrics"].items():  # at the best of its 2 epochs
        assert [observation.value[0] for observation in trial.metrics.get_history(name)] == (
            pytest.approx(values, rel=1e-4)), name
    best = [v.numpy() for v in search.tuner.get_best_models(1)[0].trainable_variables]
    assert largest_difference(best, weights[f"tune_{model}"]) < 5e-3  # 1.3e-3 seen (mlp_vae)


def test_cpu_replicas_from_the_command_line_train_like_one_device_and_resume_after_sigkill(
        distributed, manual_dir, tmp_path):
    """`zoo train --cpu-replicas 2`, killed by SIGKILL in epoch 3 then resumed: it ends bit
    for bit like the same run under a MirroredStrategy entered in Python over the same 2
    logical CPUs (replica_check.py's, never stopped), and like one device within rounding."""
    common = [*REFERENCE, "--cpu-replicas", "2", "--manual-dir", manual_dir]
    resumed = killed_and_resumed(common, tmp_path / "killed")
    assert "training on 2 replicas (MirroredStrategy)" in resumed
    report, weights = entered(distributed)
    killed = run_of(tmp_path / "killed")
    assert_trains_like(killed, run_of(distributed / "alone"), weights["initial"])
    never_stopped = report["mirrored"]
    assert killed["test"] == never_stopped["test"]  # bitwise
    assert killed["history"] == never_stopped["history"]
    assert killed["optimizer_steps"] == never_stopped["optimizer_steps"]
    assert largest_difference(killed["weights"], weights["mirrored"]) == 0


def test_two_workers_train_like_one_process(distributed, manual_dir, tmp_path):
    """MultiWorkerMirroredStrategy: 2 workers of one CPU device each, through `zoo train`
    with TF_CONFIG (TensorFlow runs one CPU device per worker: 2 workers x 2 logical CPUs
    is not possible, and --cpu-replicas with TF_CONFIG says so)."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = [zoo_train(*REFERENCE, "--manual-dir", manual_dir, "--out", tmp_path / "cluster",
                         env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {
                             "type": "worker", "index": index}})}) for index in range(2)]
    outputs = [finished(worker) for worker in workers]
    assert elbo_line(outputs[0]) == elbo_line(outputs[1])  # one model, all-reduced
    assert "training on 2 replicas (MultiWorkerMirroredStrategy)" in outputs[0]
    assert sorted(p.name for p in (tmp_path / "cluster").iterdir()) == [
        "backup", "best.h5", "metrics.json", "model.h5", "model.json", "run.json"]
    assert_trains_like(run_of(tmp_path / "cluster"), run_of(distributed / "alone"),
                       entered(distributed)[1]["initial"])
    refused = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "train", "mlp_vae", "--cpu-replicas", "2"],
        capture_output=True, text=True, env={**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": 0}})})
    assert refused.returncode == 2 and refused.stderr == (
        "zoo: error: cpu_replicas with TF_CONFIG: MultiWorkerMirroredStrategy trains one CPU "
        "device per worker (a TensorFlow limitation); drop one of them\n")
