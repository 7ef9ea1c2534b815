"""Runs that meet damage, through the commands a user types: a finished run whose model.h5
was deleted or truncated, Ctrl-C (a real SIGINT), a file system that fills up; and the
evaluation progress bar, whose last value is the printed test line's."""

import errno
import json
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

import zoo
from processes import finished, recorded_elbo, zoo_train
from zoo import cli, files, runs, weight_files

HERE = pathlib.Path(__file__).resolve().parent

# 3 epochs of 40 steps; tested on 300 images (batches of 128, 128 and 44).
RUN = ["mlp_vae", "--latent-dim", "2", "--set", "hidden_units=32", "--epochs", "3",
       "--train-examples", "5000", "--eval-examples", "300", "--eval-samples", "2",
       "--deterministic"]


@pytest.fixture(scope="module")
def reference(manual_dir, tmp_path_factory):
    """RUN by `zoo train` in a process of its own, never stopped: ``(folder, its output)``."""
    folder = tmp_path_factory.mktemp("damage") / "reference"
    return folder, finished(zoo_train(*RUN, "--manual-dir", manual_dir, "--out", folder))


def test_the_evaluation_bar_ends_on_the_value_the_test_line_prints(reference):
    _, out = reference
    bar = float(re.findall(r"-elbo: (\d+\.\d+)", out)[-1])  # 4 decimals, the last batch's
    line = float(re.search(r"^test ELBO on binarized_mnist: (-\d+\.\d+) nats", out,
                           re.M).group(1))
    assert "300 examples" in out
    # Keras's own average of the 3 batches' means (the short last one weighted as a full
    # one) was 0.05 to 0.1 nats off
    assert abs(bar + line) <= 0.005 + 5e-5


def lost(folder, capsys, *, how):
    """``zoo eval FOLDER`` after ``how`` damaged model.h5: its one error line."""
    weights = folder / runs.WEIGHTS
    if how == "deleted":
        weights.unlink()
    else:
        with open(weights, "r+b") as file:
            file.truncate(weights.stat().st_size // 2)
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        cli.main(["eval", str(folder)])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.splitlines()
    assert len(error) == 1
    return error[0]


def test_a_finished_runs_lost_or_truncated_model_h5_is_restored_by_the_same_command(
        reference, manual_dir, tmp_path, capsys):
    folder = tmp_path / "run"
    shutil.copytree(reference[0], folder)
    original = (folder / runs.WEIGHTS).read_bytes()
    command = json.loads((folder / "metrics.json").read_text())["environment"]["command"]
    assert command.startswith("zoo train mlp_vae ") and command.endswith(
        f"--out {reference[0]}")
    command = command.replace(f" --out {reference[0]}", "") + f" --out {folder}"  # moved
    for how, problem in (("deleted", f"no weights file {folder}/model.h5"),
                         ("truncated", f"{folder}/model.h5 is not an h5 weights file")):
        line = lost(folder, capsys, how=how)
        assert line.startswith(f"zoo: error: {problem}") and line.endswith(
            f"the run finished: `{command}` restores the file from its backup/"), line
        cli.main(command.split()[1:])  # the command the line gives
        printed = capsys.readouterr().out
        assert (f"{folder}/model.h5 was missing or damaged: restored from the last epoch's "
                f"checkpoint ({folder}/backup/chief/ckpt-3), the values it held") in printed
        assert (folder / runs.WEIGHTS).read_bytes() == original  # the file that was lost
    shutil.rmtree(folder / runs.BACKUP)  # nothing left to restore it from
    line = lost(folder, capsys, how="deleted")
    assert line.endswith(f"the run finished, but nothing in {folder} holds its final weights "
                         f"(no backup/ checkpoint or best.h5 to restore them from): "
                         f"`{command} --overwrite` trains it again"), line
    with pytest.raises(SystemExit):
        cli.main(command.split()[1:])
    assert capsys.readouterr().err.startswith(f"zoo: error: {folder}/model.h5 cannot be "
                                              "restored: the run finished, but nothing in")


def test_a_run_with_early_stopping_gets_its_best_epochs_weights_back(manual_dir, tmp_path):
    """Early stopping ends a run on its best epoch's weights, which best.h5 holds."""
    config = zoo.RunConfig(model="mlp_vae", overrides={"latent_dim": 2, "hidden_units": [32]},
                           epochs=2, early_stopping_patience=1, train_examples=1000,
                           eval_examples=200, eval_samples=1)
    folder = tmp_path / "run"
    zoo.train(config, folder, manual_dir=manual_dir, verbose=0)
    original = (folder / runs.WEIGHTS).read_bytes()
    (folder / runs.WEIGHTS).unlink()
    with pytest.raises(zoo.ZooError, match="the run finished: the same `zoo train .* --out "
                                           f"{folder}` .* restores the file from its best.h5"):
        zoo.load(folder)
    model, metrics = zoo.train(config, folder, manual_dir=manual_dir, verbose=0)
    assert (folder / runs.WEIGHTS).read_bytes() == original
    best = weight_files.stored_values(model, folder / runs.BEST_WEIGHTS)
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), best, strict=True))


def test_ctrl_c_says_where_the_run_stopped_and_the_same_command_resumes_it(
        reference, manual_dir, tmp_path):
    folder = tmp_path / "run"
    # SIGINT as a terminal leaves it (a process started in the background of a shell, as
    # CI's may be, inherits it ignored, and Python then raises no KeyboardInterrupt)
    interrupted = zoo_train(*RUN, "--manual-dir", manual_dir, "--out", folder,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    for line in interrupted.stdout:
        if line.startswith("Epoch 2/3"):  # epoch 1 backed up
            interrupted.send_signal(signal.SIGINT)  # what Ctrl-C sends
            break
    out, err = interrupted.communicate(timeout=300)
    assert interrupted.returncode == 130
    stopped = re.fullmatch(
        rf"zoo: interrupted: stopped in epoch (\d) of 3; {folder} holds epochs? 1(-\d)?, and "
        r"the same command resumes the run at epoch (\d)\n", err)
    assert stopped and stopped.group(1) == stopped.group(3), err
    assert not (folder / "model.h5").exists()
    resumed = finished(zoo_train(*RUN, "--manual-dir", manual_dir, "--out", folder))
    assert f"resuming at epoch {stopped.group(1)}" in resumed
    assert recorded_elbo(folder) == recorded_elbo(reference[0])  # bitwise: deterministic


def test_a_full_file_system_is_one_line_and_the_run_resumes_once_there_is_space(
        reference, manual_dir, tmp_path):
    """Inside a mount namespace of the test's own (nothing mounted outside it), a 4 MiB
    tmpfs that a filler fills once epoch 2 begins."""
    mount = tmp_path / "small"
    mount.mkdir()
    root = [] if os.geteuid() == 0 else ["--map-root-user"]
    script = (f"mount -t tmpfs -o size=4m zoo-test {mount} && exec {sys.executable} "
              f"{HERE / 'disk_full_check.py'} {mount / 'run'} {' '.join(RUN)} --manual-dir "
              f"{manual_dir}")
    done = subprocess.run(["unshare", "--mount", *root, "sh", "-c", script],
                          capture_output=True, text=True, timeout=600, cwd=HERE)
    if done.returncode and "unshare" in done.stderr and not done.stdout:
        pytest.skip(f"no mount namespace here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    full = report["full"]
    assert full["code"] == 2
    assert full["out"].endswith("\n")  # the progress bar's line ended before the error
    assert re.fullmatch(
        rf"zoo: error: no space left on device writing {mount}/run/\S+; free space there "
        r"or pick another --out \(the same command then resumes a training run\)\n",
        full["err"]), full["err"]
    freed = report["freed"]
    assert freed["code"] == 0, freed["err"][-2000:]
    assert "resuming at epoch 2 (epoch 1 was run before)" in freed["out"]
    assert report["metrics"]["test"]["elbo_nats"] == recorded_elbo(reference[0])


def test_a_full_file_system_is_recognised_behind_the_error_h5py_raises_at_close():
    """h5py can report ENOSPC as a RuntimeError at close, over the OSError that caused it."""
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device")
        except OSError:
            raise RuntimeError("Can't decrement id ref count (unable to extend file properly)")
    except RuntimeError as error:
        assert files.no_space(error)
    assert not files.no_space(RuntimeError("unable to extend file properly"))
    assert not files.no_space(OSError(errno.EACCES, "Permission denied"))


def test_two_writers_of_one_file_at_once_each_rename_a_whole_file_of_their_own(tmp_path):
    """A search's chief and workers claim its folder at once (zoo_search.json): both write
    their temporary file before either renames it; each rename finds its own."""
    target, both_written = tmp_path / "zoo_search.json", threading.Barrier(2)
    errors = []

    def write(value):
        try:
            with files.atomic_path(target) as partial:
                partial.write_text(json.dumps({"writer": value}))
                both_written.wait(timeout=60)  # neither renames before both have written
        except OSError as error:
            errors.append(error)

    writers = [threading.Thread(target=write, args=(value,)) for value in (1, 2)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    assert errors == []
    assert json.loads(target.read_text())["writer"] in (1, 2)  # one whole file
    assert [path.name for path in tmp_path.iterdir()] == ["zoo_search.json"]  # no leftover
