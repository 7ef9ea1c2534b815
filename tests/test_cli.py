"""The ``zoo`` command: a real train and eval, and one line for every mistake."""

import json
import re
import subprocess
import sys

import pytest

import zoo
from zoo import cli
from zoo.models.registry import builder


def zoo_command(*args):
    """Runs ``zoo ARGS`` in a new process, as a user would; returns the CompletedProcess."""
    return subprocess.run([sys.executable, "-m", "zoo.cli", *map(str, args)],
                          capture_output=True, text=True, timeout=600)


def test_train_prints_the_test_elbo_and_eval_reproduces_it(manual_dir, tmp_path, capsys):
    out = tmp_path / "run"
    trained = zoo_command("train", "mlp_vae", "--epochs", 1, "--latent-dim", 2,
                          "--set", "hidden_units=64", "--eval-samples", 2,
                          "--train-examples", 5000, "--eval-examples", 1000,
                          "--manual-dir", manual_dir / "binarized_mnist", "--out", out)
    assert trained.returncode == 0, trained.stderr[-2000:]
    elbo_line = next(line for line in trained.stdout.splitlines() if "test ELBO" in line)
    assert elbo_line.startswith("test ELBO on binarized_mnist: -")
    assert "nats per example" in elbo_line and "1000 examples, 2 posterior samples" in elbo_line
    assert "40/40" in trained.stdout  # the Keras progress bar: one epoch of 5,000 / 128

    capsys.readouterr()  # eval here, in this process: the weights and data from the run folder
    cli.main(["eval", str(out), "--manual-dir", str(manual_dir)])  # the run's 1,000 images
    assert elbo_line in capsys.readouterr().out.splitlines()
    cli.main(["eval", str(out), "--examples", "300", "--manual-dir", str(manual_dir)])
    assert "300 examples, 2 posterior samples" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_:
        cli.main(["eval", str(out), "--examples", "10001", "--manual-dir", str(manual_dir)])
    assert exit_.value.code == 2 and capsys.readouterr().err == (
        "zoo: error: --examples=10001 is more than the 10000 examples of binarized_mnist's "
        "test split; use at most 10000\n")

    with pytest.raises(SystemExit) as exit_:
        cli.main(["train", "mlp_vae", "--epochs", "2", "--out", str(out)])
    assert exit_.value.code == 2 and capsys.readouterr().err == (
        f"zoo: error: {out} holds a different run (its epochs, eval_examples, eval_samples, "
        "overrides, train_examples differ); pick another --out or pass --overwrite\n")


def test_list_names_every_model_and_verbose_lists_the_overrides(capsys):
    cli.main(["list", "-v"])
    printed = capsys.readouterr().out
    models = [line.split(None, 1) for line in printed.splitlines() if not line[:1].isspace()]
    assert models == [[name, description] for name, description in zoo.list().items()]
    overrides = {line.strip() for line in printed.splitlines() if line[:1].isspace()}
    for name in zoo.list():
        assert {field.describe() for field in builder(name).fields.values()} <= overrides, name
    assert "beta (a float >= 0, default 4.0)" in printed


@pytest.mark.parametrize("args, message", [
    (["train", "mlp_vae", "--set", "latnt_dim=2"], "no override 'latnt_dim'; did you mean"),
    (["train", "mlp_vae", "--set", "hidden_units"], "--set takes KEY=VALUE, got 'hidden_units'"),
    (["train", "mlp_vae", "--set", "hidden_units=a,b"], "cannot read hidden_units='a,b'"),
    (["train", "mlp_vae", "--set", "hidden_units=512x256"], "cannot read "
     "hidden_units='512x256'; hidden_units accepts a non-empty list of ints >= 1, written as "
     "hidden_units=512,256"),
    (["train", "mlp_vae", "--dataset", "Fashion_MNIST"], "did you mean 'fashion_mnist'?"),
    (["train", "cvae", "--latent-dim", "2", "--set", "hidden_units=8", "--manual-dir",
      "{manual}", "--out", "{tmp}/run"], "binarized_mnist has no class labels, which a "
     "conditional model (cvae) trains on and the plots and metrics by class need; use a "
     "dataset with them: mnist or fashion_mnist"),
    (["train", "beta_vae", "--set", "beta=-1"], "override beta=-1.0 is invalid"),
    (["train", "mlp_vae", "--dataset", "mnits"], "unknown dataset 'mnits'"),
    (["train", "mlp_vae", "--dataset", "fashon_mnist"], "did you mean 'fashion_mnist'?"),
    (["train", "mlp_vae", "--epochs", "-3"],
     "argument --epochs: expected an int >= 1, got '-3'; see `zoo train --help`"),
    (["tune", "mlp_vae", "--max-trials", "x"], "see `zoo tune --help`"),
    (["train", "mlp_vae", "--epohcs", "3"], "unrecognized arguments: --epohcs 3 (did you "
                                            "mean '--epochs'?); see `zoo train --help`"),
    (["eval", "runs/x", "--sampels=5"], "unrecognized argument: --sampels=5 (did you mean "
                                        "'--samples'?); see `zoo eval --help`"),
    (["train", "mlp_vae", "--binarization", "dynamic"],
     "binarized_mnist accepts binarization static, not 'dynamic'"),
    (["train", "mlp_vae", "--epochs", "0"], "argument --epochs: expected an int >= 1, got '0'"),
    (["train", "mlp_vae", "--manual-dir", "/nonexistent", "--data-dir", "{tmp}/tfds",
      "--out", "{tmp}/run"],
     "the manual folder /nonexistent lacks binarized_mnist_test.amat"),
    (["eval", "{tmp}"], "model.json is missing; is"),
    (["eval", "mlp_vae:binarized_mnist", "--record", "--dataset", "fashion_mnist"],
     "--record keeps evaluations of the row's own data; drop --dataset and --image-size"),
    (["train", "mlp_vae", "--out", "{tmp}/file.txt"], "is a file; pass --out a folder"),
    (["train", "mlp_vae", "--out", "{tmp}/file.txt/run"], "file.txt is a file, so"),
    (["train", "mlp_vae", "--latent-dim", "2", "--set", "hidden_units=8", "--manual-dir",
      "{manual}", "--out", "/proc/zoo-run"], "/proc/zoo-run: No such file or directory; pick"),
    (["train", "mlp_vae", "--train-examples", "50001", "--manual-dir", "{manual}", "--out",
      "{tmp}/new/run"],
     "train_examples=50001 is more than the 50000 examples of binarized_mnist's train split; "
     "use at most 50000"),
    (["train", "mlp_vae", "--eval-examples", "10001", "--manual-dir", "{manual}", "--out",
      "{tmp}/run"], "eval_examples=10001 is more than the 10000 examples of binarized_mnist's "
                    "validation split; use at most 10000"),
    (["train", "mlp_vae", "--train-examples", "-1"],
     "argument --train-examples: expected an int >= 0, got '-1'"),
    (["train", "mlp_vae", "--set", "input_shape=32,32,1", "--manual-dir", "{manual}",
      "--out", "{tmp}/run"], "training data has shape (None, 28, 28, 1), but the model takes"),
])
def test_every_mistake_is_one_line_and_exit_status_2(args, message, tmp_path, capsys,
                                                     manual_dir):
    (tmp_path / "file.txt").write_text("not a run")
    args = [a.replace("{tmp}", str(tmp_path)).replace("{manual}", str(manual_dir))
            for a in args]
    with pytest.raises(SystemExit) as exit_:
        cli.main(args)
    error = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2
    assert len(error) == 1 and error[0].startswith("zoo: error: ") and message in error[0], error
    assert "Traceback" not in "\n".join(error)
    # nothing written for a run that cannot start (its --out, and parents, made to check
    # that they can be, are removed again)
    assert [path.name for path in tmp_path.iterdir()] == ["file.txt"]


def help_entries(capsys, *command):
    """``zoo COMMAND --help``: its text, usage line and one whitespace-normalised entry per
    option."""
    with pytest.raises(SystemExit):
        cli.main([*command, "--help"])
    shown = capsys.readouterr().out
    usage, options = re.split(r"\n(?:options|optional arguments):\n", shown)
    return shown, usage, [" ".join(entry.split())
                          for entry in re.split(r"\n(?=  -)", options.strip("\n"))]


def test_train_help_shows_the_default_of_every_option_once_and_every_help_reads_plainly(
        capsys):
    for command in ("list", "tune", "plot", "eval", "export", "bench"):
        _, _, entries = help_entries(capsys, command)
        assert not [entry for entry in entries if entry.count("(default:") > 1], command
    _, _, tuning = help_entries(capsys, "tune")
    for option in ("--dataset DATASET", "--binarization {static,dynamic,none}", "--seed SEED"):
        entry = next(entry for entry in tuning if entry.startswith(option))
        assert entry.removeprefix(option).split("(default:")[0].strip(), option  # described
    top, _, _ = help_entries(capsys)
    assert "``" not in top and "The zoo command:" in " ".join(top.split())
    shown, usage, entries = help_entries(capsys, "train")
    assert [entry.split()[0].rstrip(",") for entry in entries] == re.findall(
        r"\[(-[-\w]+)", usage)  # one entry per option of the usage line, in its order
    assert len(entries) >= 20  # -h and the 19 options of train
    without = [entry for entry in entries if not entry.startswith("-h, --help")
               and not re.search(r"\(default: [^)]+\)$", entry)]
    assert not without, without
    for default in ("continues it (default: 10)", "(default: 128, or Keras's 32",
                    "(default: binarized_mnist)", "(default: 0)"):
        assert default in " ".join(shown.split()), default


def test_help_and_argument_errors_answer_without_importing_tensorflow_and_a_typo_is_one_line():
    """In a real process, as a user types them: ``import zoo`` imports no stage and no
    TensorFlow, so ``zoo --help``, a mistyped command, ``zoo list``, a mistyped model,
    override or source answer from argparse and the catalog alone (in about 0.1 s instead
    of 6-8); an override value, which needs the registry and so TensorFlow, is one line
    without a traceback, TensorFlow's start-up notes are filtered, and TensorFlow starts
    without importing Keras 3 (zoo.quiet.legacy_keras)."""
    probe = ("import sys, contextlib, io, json, zoo.cli\n"
             "for argv in (['--help'], ['trian'], ['train', '--help'], ['list', '-v'],\n"
             "             ['train', 'cnn_vea'], ['tune', 'mlp_vae', '--set', 'latnt_dim=2'],\n"
             "             ['plot', 'latent', 'no/such/run'], ['eval', 'no_such:row'],\n"
             "             ['eval', 'mlp_vae:binarized_mnst']):\n"
             "    with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()), "
             "contextlib.redirect_stderr(io.StringIO()):\n"
             "        zoo.cli.main(argv)\n"
             "print(sorted(m for m in ('tensorflow', 'keras_tuner', 'matplotlib', "
             "'tensorflow_probability') if m in sys.modules))\n"
             "error = io.StringIO()\n"
             "sys.argv = ['zoo', 'train', 'mlp_vae', '--set', 'hidden_units=a']\n"
             "try:\n"
             "    with contextlib.redirect_stderr(error):\n"
             "        zoo.cli.run()\n"  # the console script's entry
             "except SystemExit as exit_:\n"
             "    print(json.dumps([exit_.code, error.getvalue(), 'keras' in sys.modules]))\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    modules, typo = done.stdout.strip().splitlines()
    assert modules == "[]"
    code, error, keras_3_imported = json.loads(typo)
    assert code == 2 and "Traceback" not in error
    assert not keras_3_imported  # TensorFlow started with tf_keras as tf.keras: 3.5 s sooner
    assert error.strip().splitlines() == [
        "zoo: error: mlp_vae: cannot read hidden_units='a'; hidden_units accepts a non-empty "
        "list of ints >= 1, written as hidden_units=512,256"]
    assert done.stderr == ""  # nothing else: oneDNN, CUDA and CPU-instruction notes filtered


def test_the_stage_functions_stay_functions_when_their_modules_are_imported():
    import zoo.evaluate
    import zoo.export
    import zoo.train
    import zoo.tune  # noqa: F401

    assert all(callable(function) for function in (zoo.evaluate, zoo.export, zoo.train,
                                                   zoo.tune))
    assert zoo.train.__module__ == "zoo.train" and zoo.tune.__name__ == "tune"
    assert set(zoo.__all__) <= set(dir(zoo))
    with pytest.raises(AttributeError, match="module 'zoo' has no attribute 'trian'"):
        zoo.trian
