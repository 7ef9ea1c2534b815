"""Training that survives SIGKILL: killed runs of seven families resume and end with the
numbers of runs never stopped (mlp_vae's, on 2 replicas: test_distribute.py); and the
determinism benchmark."""

import concurrent.futures
import json
import pathlib
import subprocess
import sys

import pytest

from processes import finished, killed_and_resumed, recorded_elbo, zoo_train

HERE = pathlib.Path(__file__).resolve().parent


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
