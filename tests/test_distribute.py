"""Strategies proven equal to one device, and training that survives SIGKILL."""

import concurrent.futures
import json
import os
import pathlib
import signal
import socket
import subprocess
import sys

import pytest

import zoo

HERE = pathlib.Path(__file__).resolve().parent
SMALL_RUN = ["mlp_vae", "--latent-dim", "2", "--set", "hidden_units=64", "--batch-size", "256",
             "--eval-samples", "2", "--deterministic"]


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


def test_two_workers_give_the_numbers_of_one_process(manual_dir, tmp_path):
    common = [*SMALL_RUN, "--epochs", "1", "--manual-dir", manual_dir]
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    workers = [zoo_train(*common, "--out", tmp_path / "cluster",
                         env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {
                             "type": "worker", "index": index}})}) for index in range(2)]
    finished(zoo_train(*common, "--out", tmp_path / "alone"))
    outputs = [finished(worker) for worker in workers]
    assert elbo_line(outputs[0]) == elbo_line(outputs[1])  # one model, all-reduced
    # Each worker computes half of every batch, and the halves' gradients are all-reduced:
    # the same sums in another order, so equal up to float rounding, not bit for bit.
    cluster_elbo, alone_elbo = (recorded_elbo(tmp_path / run) for run in ("cluster", "alone"))
    assert cluster_elbo == pytest.approx(alone_elbo, abs=0.05)
    assert sorted(p.name for p in (tmp_path / "cluster").iterdir()) == [
        "best.h5", "metrics.json", "model.h5", "model.json", "run.json"]


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


@pytest.mark.parametrize("run", [SMALL_RUN, ["cnn_vae", *SMALL_CONV],
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
