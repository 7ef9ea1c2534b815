"""Strategies proven equal to one device, and training that survives SIGKILL."""

import concurrent.futures
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys

import numpy as np
import pytest

import zoo

HERE = pathlib.Path(__file__).resolve().parent


def zoo_train(*args, env=None, **popen):
    """``zoo train ARGS`` in a new process, as a user runs it."""
    return subprocess.Popen([sys.executable, "-m", "zoo.cli", "train", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, **popen)


def finished(process):
    out, err = process.communicate(timeout=600)
    assert process.returncode == 0, err[-3000:]
    return out


def recorded_elbo(folder):
    """The test ELBO (nats, full precision) a run folder's metrics.json records."""
    return json.loads((folder / "metrics.json").read_text())["test"]["elbo_nats"]


def elbo_line(out):
    return next(line for line in out.splitlines() if line.startswith("test ELBO"))


@pytest.fixture(scope="module")
def mirrored_report(manual_dir):
    """strategy_check.py's report: every builder on 1 device and on 2 mirrored replicas. The
    builders are split over two processes that run at once (one MirroredStrategy each):
    building and tracing the models is mostly single-threaded Python."""
    names = sorted(zoo.list())
    checks = [subprocess.Popen([sys.executable, str(HERE / "strategy_check.py"), *half],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "ZOO_MANUAL_DIR": str(manual_dir)})
              for half in (names[0::2], names[1::2])]
    report = {}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # both read as they print
        for out in pool.map(finished, checks):
            report.update(json.loads(out.strip().splitlines()[-1]))
    return report


def test_beta_tcvae_runs_one_step_per_execution_under_replicas_and_saves_what_was_asked(
        mirrored_report):
    assert mirrored_report["beta_tcvae_steps_per_execution"] == {"run": 1, "saved": 16}


@pytest.mark.parametrize("name", sorted(zoo.list()))
def test_mirrored_replicas_train_exactly_like_one_device(mirrored_report, name):
    report = mirrored_report[name]
    assert mirrored_report["replicas"] == 2
    assert report["weights_moved"] > 0.01  # five real SGD steps, the last of 3 rows
    assert report["weights_max_abs_diff"] < 1e-4 * report["weights_moved"]
    for term in ("loss", "reconstruction", "kl"):  # the KL is scaled alike under replicas
        assert report["mirrored"][term] == pytest.approx(report["single"][term], rel=1e-5)


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for probe in sockets:
        probe.bind(("127.0.0.1", 0))
    ports = [probe.getsockname()[1] for probe in sockets]
    for probe in sockets:
        probe.close()
    return ports


# The reference run, on one device and no strategy; replica_check.py's CONFIG is the same
# run (the test compares their run.json). 3 epochs of 40 steps inside a KL warm-up, the last
# batch of 9 rows: 5 + 4 on two replicas or two workers.
REFERENCE = ["mlp_vae", "--latent-dim", "2", "--set", "hidden_units=64", "--batch-size", "128",
             "--eval-samples", "2", "--deterministic", "--epochs", "3",
             "--kl-warmup-epochs", "3", "--train-examples", "5001"]


@pytest.fixture(scope="module")
def distributed(manual_dir, tmp_path_factory):
    """REFERENCE by `zoo train` in ``alone/``, and beside it replica_check.py's runs under
    strategies entered in Python (``entered/``: report.json, NAME.npz weights)."""
    folder = tmp_path_factory.mktemp("distributed")
    (folder / "entered").mkdir()
    check = subprocess.Popen([sys.executable, str(HERE / "replica_check.py"),
                              str(folder / "entered"), str(manual_dir)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finished(zoo_train(*REFERENCE, "--manual-dir", manual_dir, "--out", folder / "alone"))
    finished(check)
    return folder


def entered(distributed):
    report = json.loads((distributed / "entered" / "report.json").read_text())
    weights = {path.stem: list(np.load(path).values())
               for path in (distributed / "entered").glob("*.npz")}
    return report, weights


def run_of(folder):
    """What a run folder records of its training: steps, history, test ELBO, weights."""
    metrics = json.loads((folder / "metrics.json").read_text())
    return {"optimizer_steps": metrics["optimizer_steps"], "history": metrics["history"],
            "test": metrics["test"], "run": metrics["run"],
            "weights": [v.numpy() for v in zoo.load(folder).trainable_variables]}


def assert_trains_like(run, reference, initial):
    """The same optimizer steps, every epoch's history within float rounding, weights within
    1e-4 of their movement, test ELBO within 0.05 nats."""
    assert run["run"] == reference["run"]
    assert run["optimizer_steps"] == reference["optimizer_steps"] == 3 * 40
    assert run["history"].keys() == reference["history"].keys()
    for name, values in reference["history"].items():
        assert len(values) == 3
        assert run["history"][name] == pytest.approx(values, rel=1e-4, abs=1e-4), name
    moved = max(float(abs(a - b).max()) for a, b in zip(reference["weights"], initial))
    assert moved > 0.01
    assert max(float(abs(a - b).max())
               for a, b in zip(run["weights"], reference["weights"])) < 1e-4 * moved
    assert run["test"]["elbo_nats"] == pytest.approx(reference["test"]["elbo_nats"], abs=0.05)


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


def test_a_tune_trial_under_mirrored_replicas_trains_like_one_device(distributed, manual_dir,
                                                                     tmp_path):
    report, weights = entered(distributed)
    search = zoo.tune("mlp_vae", directory=str(tmp_path), manual_dir=manual_dir, verbose=0,
                      **report["tune_settings"])
    trial = next(iter(search.tuner.oracle.trials.values()))
    assert trial.hyperparameters.values == report["tune"]["values"]  # the same search
    for name, values in report["tune"]["metrics"].items():  # at the best of its 2 epochs
        assert [observation.value[0] for observation in trial.metrics.get_history(name)] == (
            pytest.approx(values, rel=1e-4)), name
    best = [v.numpy() for v in search.tuner.get_best_models(1)[0].trainable_variables]
    assert max(float(abs(a - b).max()) for a, b in zip(best, weights["tune"])) < 1e-4


def test_cpu_replicas_from_the_command_line_train_like_one_device_and_resume_after_sigkill(
        distributed, manual_dir, tmp_path):
    """`zoo train --cpu-replicas 2`: whole, and killed by SIGKILL in epoch 3 then resumed,
    which ends bit for bit like the whole run on the same replicas."""
    common = [*REFERENCE, "--cpu-replicas", "2", "--manual-dir", manual_dir]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        whole = pool.submit(finished, zoo_train(*common, "--out", tmp_path / "whole"))
        killed_and_resumed(common, tmp_path / "killed")
        assert "training on 2 replicas (MirroredStrategy)" in whole.result()
    initial = entered(distributed)[1]["initial"]
    whole, killed = run_of(tmp_path / "whole"), run_of(tmp_path / "killed")
    assert_trains_like(whole, run_of(distributed / "alone"), initial)
    assert killed["test"] == whole["test"]  # bitwise
    assert all((a == b).all() for a, b in zip(killed["weights"], whole["weights"]))


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
        "best.h5", "metrics.json", "model.h5", "model.json", "run.json"]
    assert_trains_like(run_of(tmp_path / "cluster"), run_of(distributed / "alone"),
                       entered(distributed)[1]["initial"])
    refused = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "train", "mlp_vae", "--cpu-replicas", "2"],
        capture_output=True, text=True, env={**os.environ, "TF_CONFIG": json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": 0}})})
    assert refused.returncode == 2 and refused.stderr == (
        "zoo: error: cpu_replicas with TF_CONFIG: MultiWorkerMirroredStrategy trains one CPU "
        "device per worker (a TensorFlow limitation); drop one of them\n")


SMALL_CONV = ["--latent-dim", "2", "--set", "filters=8,16", "--batch-size", "256",
              "--eval-samples", "2", "--deterministic"]


SMALL_MLP = ["--latent-dim", "2", "--batch-size", "256", "--eval-samples", "2",
             "--deterministic"]
# One run per way a family keeps state: objective (iwae), learned prior (vamp_vae), two
# layers (hvae_vamp), flow (iaf_vae), labelled batches (cvae).
NEW_FAMILIES = [
    ["iwae", *SMALL_MLP, "--set", "hidden_units=64,64", "--set", "k=3"],
    ["vamp_vae", *SMALL_MLP, "--set", "hidden_units=64,64", "--set", "components=20"],
    ["hvae_vamp", *SMALL_MLP, "--set", "units=64", "--set", "components=20"],
    ["iaf_vae", *SMALL_MLP, "--set", "hidden_units=64", "--set", "made_units=16,16"],
    ["cvae", *SMALL_MLP, "--set", "hidden_units=64", "--dataset", "fashion_mnist"],
]


# mlp_vae's killed run: under two replicas, in
# test_cpu_replicas_from_the_command_line_train_like_one_device_and_resume_after_sigkill.
@pytest.mark.parametrize("run", [["cnn_vae", *SMALL_CONV],
                                 ["beta_vae", *SMALL_CONV], *NEW_FAMILIES],
                         ids=lambda run: run[0])
def test_a_killed_run_resumes_where_it_stopped_and_ends_with_the_same_numbers(
        run, manual_dir, tmp_path):
    """Killed in epoch 3, inside a KL warm-up of 3 epochs: the resumed run carries on the
    data order, the posterior noise and the warm-up of the step it stopped at. Epochs of the
    first 10,000 training images (40 steps)."""
    common = [*run, "--epochs", "3", "--kl-warmup-epochs", "3", "--train-examples", "10000",
              "--manual-dir", manual_dir]
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # the run never stopped, beside it
        whole = pool.submit(finished, zoo_train(*common, "--out", tmp_path / "whole"))
        killed_and_resumed(common, tmp_path / "killed")
        whole.result()
    assert recorded_elbo(tmp_path / "killed") == recorded_elbo(tmp_path / "whole")  # bitwise


def killed_and_resumed(common, folder):
    interrupted = zoo_train(*common, "--out", folder)
    for line in interrupted.stdout:  # Keras prints "Epoch 3/3" once epoch 2 is backed up
        if line.startswith("Epoch 3/3"):
            interrupted.send_signal(signal.SIGKILL)
            break
    interrupted.wait()
    assert interrupted.returncode == -signal.SIGKILL
    assert (folder / "backup").is_dir()
    assert not (folder / "model.h5").exists()

    resumed = finished(zoo_train(*common, "--out", folder))
    epochs = [line.split()[1] for line in resumed.splitlines() if line.startswith("Epoch ")]
    assert epochs == ["3/3"]  # no finished epoch redone
    assert "resuming at epoch 3 (epochs 1-2 were run before)" in resumed
    recorded = json.loads((folder / "metrics.json").read_text())
    assert recorded["epochs_run"] == 3 and len(recorded["history"]["val_neg_elbo"]) == 3
    assert not (folder / "backup").exists()


def test_the_determinism_benchmark_records_its_four_settings(manual_dir, tmp_path):
    out = tmp_path / "determinism.json"
    refused = subprocess.run([sys.executable, str(HERE.parent / "benchmarks" / "determinism.py"),
                              "--train-examples", "50001", "--manual-dir", str(manual_dir),
                              "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and refused.stderr.strip().splitlines()[-1].endswith(
        "error: --train-examples=50001 is more than the 50000 examples of binarized_mnist's "
        "train split; use at most 50000")
    assert not out.exists()
    done = subprocess.run([sys.executable, str(HERE.parent / "benchmarks" / "determinism.py"),
                           "--runs", "1", "--epochs", "1", "--train-examples", "10000",
                           "--manual-dir", str(manual_dir), "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    assert result["train_examples"] == 10000
    settings = result["settings"]
    assert len(settings) == 4 and all(len(s["elbo_nats"]) == 1 for s in settings.values())
    fused = settings["fused adam"]["elbo_nats"][0]
    assert -350 < fused < -150  # trained: the bound of the untrained model is about -543
    assert settings["fused adam, autotune"]["elbo_nats"] == [fused]  # the same data, bitwise
    for setting in ("new adam", "new adam, autotune"):  # the same update rule, other rounding:
        assert settings[setting]["elbo_nats"][0] == pytest.approx(fused, abs=2)  # 1.2 seen
