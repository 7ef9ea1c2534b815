"""Training that survives a crash: runs of eight families stopped in epoch 3 resume and end
with the numbers of runs never stopped; and the determinism benchmark.

A `zoo train` killed by SIGKILL in a process of its own, where nothing of the process
survives but the run folder, is test_distribute.py's (mlp_vae on 2 replicas). The families
here resume in this process, from a run folder as a crash in epoch 3 leaves it (the epochs
finished before backed up, no model.h5): beta_vae's run stops by an exception a
callback raises mid-epoch; for the other seven, a callback copies the folder of the run
never stopped at the same point, while that run goes on to be their reference (the folder
on disk is all a crash leaves, and a run not made twice saves a third of the test). The
resumed run is a new ``zoo.train`` call, which builds and seeds everything anew as a new
process would."""

import dataclasses
import json
import pathlib
import shutil

import pytest
import tf_keras

import zoo
from conftest import benchmark_script
from processes import recorded_elbo
from zoo import files, runs
from zoo.callbacks import EpochLog
from zoo.train import run_callbacks

HERE = pathlib.Path(__file__).resolve().parent

# Epochs of 16 steps (the first 2,000 training images, batches of 128) inside a KL warm-up
# of all 3 epochs, validated and tested on 500 images.
SHORT = {"epochs": 3, "kl_warmup_epochs": 3, "train_examples": 2000, "eval_examples": 500,
         "batch_size": 128, "eval_samples": 2, "deterministic": True}
# One run per way a family keeps state: the beta of a warm-up (beta_vae), objective (iwae),
# two layers under a learned prior (hvae_vamp: vamp_vae's VampPrior layer on the top layer),
# flow (iaf_vae), labelled batches (cvae), parts with optimizers of their own (vae_gan: a
# decoder and a discriminator, each an RMSprop that the balance rests in some steps; the
# Adam of factor_vae's and aae's discriminators as the encoder's), a stage by epoch with
# a second optimizer (vq_vae: epochs 2-3 train its prior
# alone, so the run resumes with the prior's optimizer state from epoch 2), codes without
# a density and a loss of second derivatives (rae_gp: no ELBO, the run watches val_loss).
FAMILIES = {
    "beta_vae": {"latent_dim": 2, "filters": [8, 16]},
    "iwae": {"latent_dim": 2, "hidden_units": [64, 64], "k": 3},
    "hvae_vamp": {"latent_dim": 2, "units": 64, "components": 20},
    "iaf_vae": {"latent_dim": 2, "hidden_units": [64], "made_units": [16, 16]},
    "cvae": {"latent_dim": 2, "hidden_units": [64]},
    "vae_gan": {"latent_dim": 2, "filters": [8, 16], "discriminator_filters": [8, 16]},
    "vq_vae": {"latent_dim": 4, "filters": [8, 16], "blocks": 0, "codes": 8,
               "prior_filters": 8, "prior_depth": 1, "prior_mixtures": 2, "prior_epochs": 2},
    "rae_gp": {"latent_dim": 4, "filters": [8, 16], "code_weight": 1e-2,
               "decoder_weight": 1e-2},
}


class Crash(Exception):
    """What the interrupting callback raises: a crash in the middle of a training step."""


class InEpoch(tf_keras.callbacks.Callback):
    """Calls ``act(batch)`` after the first execution of epoch ``number`` (from 1: the
    epochs before it backed up)."""

    def __init__(self, number, act):
        super().__init__()
        self.number, self.act, self.acted = number, act, False

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch + 1 == self.number and not self.acted:
            self.acted = True
            self.act(batch)


def crash(batch):
    raise Crash(f"stopped in epoch 3 after batch {batch + 1}")


class EpochsBegun(tf_keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch + 1)


def as_a_new_process():
    """Keras's layer names counted from zero again, as in a new process. The graphs of the
    runs compared are then alike to their node names, which Grappler's rewrites may order
    sums by: hvae_vamp's run built after other models summed its training reconstruction 1
    ulp apart from the same run built after none."""
    tf_keras.backend.clear_session()


@pytest.mark.parametrize("name", FAMILIES)
def test_a_run_stopped_in_epoch_3_resumes_there_and_ends_with_the_same_numbers(
        name, manual_dir, tmp_path, capsys):
    """Stopped inside the KL warm-up: the resumed run carries on the data order, the
    posterior noise and the warm-up of the step it stopped at, bit for bit."""
    config = zoo.RunConfig(model=name, overrides=FAMILIES[name],
                           dataset="fashion_mnist" if name == "cvae" else "binarized_mnist",
                           **SHORT)
    whole_folder, stopped = tmp_path / "whole", tmp_path / "stopped"
    as_a_new_process()
    if name == "beta_vae":  # a real crash: zoo.train stops by the callback's exception
        _, whole = zoo.train(config, whole_folder, manual_dir=manual_dir, verbose=0)
        as_a_new_process()
        with pytest.raises(Crash, match="stopped in epoch 3 after batch 1"):
            zoo.train(config, stopped, manual_dir=manual_dir, callbacks=[InEpoch(3, crash)],
                      verbose=0)
    else:  # the folder at that point, while the run goes on
        copy = InEpoch(3, lambda batch: shutil.copytree(whole_folder, stopped))
        _, whole = zoo.train(config, whole_folder, manual_dir=manual_dir, callbacks=[copy],
                             verbose=0)
        assert copy.acted
    assert (stopped / runs.BACKUP).is_dir()
    assert not (stopped / runs.WEIGHTS).exists()
    capsys.readouterr()
    begun = EpochsBegun()
    as_a_new_process()
    _, resumed = zoo.train(config, stopped, manual_dir=manual_dir, callbacks=[begun],
                           verbose=0)
    assert begun.epochs == [3]  # no finished epoch redone
    assert "resuming at epoch 3 (epochs 1-2 were run before)" in capsys.readouterr().out
    assert resumed["epochs_run"] == 3 and len(resumed["history"]["val_loss"]) == 3
    assert resumed["optimizer_steps"] == whole["optimizer_steps"] == 3 * 16
    assert resumed["history"] == whole["history"]  # bitwise, every epoch
    assert resumed["test"] == whole["test"]
    assert (files.read_json(stopped / runs.METRICS)["test"]
            == files.read_json(whole_folder / runs.METRICS)["test"])
    # the run in two pieces: epochs 1-2 before the crash (epoch 3's batches it ran are lost
    # with it), epoch 3 resumed; each with its epochs' seconds and the machine that ran it
    assert [piece["epochs"] for piece in whole["pieces"]] == [[1, 3]]
    assert [piece["epochs"] for piece in resumed["pieces"]] == [[1, 2], [3, 3]]
    assert [piece["seconds"] for piece in resumed["pieces"]] == [
        sum(resumed["epoch_seconds"][:2]), resumed["epoch_seconds"][2]]
    assert whole["environment"]["git_commit"] and all(
        piece["git_commit"] == whole["environment"]["git_commit"]
        and piece["cpu"] == whole["environment"]["cpu"] for piece in resumed["pieces"])
    if name == "beta_vae":
        continued_to_the_same_numbers(config, tmp_path / "continued", whole, manual_dir,
                                      capsys)


class AtTrainEnd(tf_keras.callbacks.Callback):
    """Calls ``act()`` when training ends, after the callbacks before it (early stopping
    has restored the best weights; the run's test evaluation has not begun)."""

    def __init__(self, act):
        super().__init__()
        self.act = act

    def on_train_end(self, logs=None):
        self.act()


@pytest.mark.parametrize("epochs,patience", [(6, 1), (5, 1), (5, 2)],
                         ids=["stops", "stops-at-the-end", "runs-out"])
def test_early_stopping_resumes_with_the_run(epochs, patience, manual_dir, tmp_path, capsys):
    """Adam at 0.04 makes the validation -ELBO of epoch 5 worse than epoch 4's, the best so
    far. With patience 1 the run never stopped ends after epoch 5 (of 6, or of 5), with
    patience 2 after its 5 epochs; each way it tests epoch 4's weights. Stopped in epoch 5,
    the resumed run knows epoch 4 is the best (Keras's EarlyStopping, started afresh,
    counted epoch 5 an improvement: patience 1 trained epoch 6, patience 2 kept epoch 5's
    weights); stopped after training, in its test evaluation, it trains nothing and tests
    epoch 4's weights too (Keras's, with no epoch to see, restored none). Continued with
    one more epoch, the run that stopped early trains nothing: a run given those epochs
    from the start stops there too."""
    config = zoo.RunConfig(
        model="mlp_vae", overrides={"latent_dim": 2, "hidden_units": [64, 64],
                                    "learning_rate": 0.04},
        epochs=epochs, early_stopping_patience=patience, train_examples=2000,
        eval_examples=500, batch_size=128, eval_samples=2, deterministic=True)
    whole_folder = tmp_path / "whole"
    in_epoch_5, after_training = tmp_path / "in_epoch_5", tmp_path / "after_training"
    copies = [InEpoch(5, lambda batch: shutil.copytree(whole_folder, in_epoch_5)),
              AtTrainEnd(lambda: shutil.copytree(whole_folder, after_training))]
    as_a_new_process()
    _, whole = zoo.train(config, whole_folder, manual_dir=manual_dir, callbacks=copies,
                         verbose=0)
    validation = whole["history"]["val_neg_elbo"]
    assert whole["epochs_run"] == 5 and min(validation) == validation[3] < validation[4]
    for folder in (in_epoch_5, after_training):
        assert not (folder / runs.WEIGHTS).exists()
        as_a_new_process()
        capsys.readouterr()
        _, resumed = zoo.train(config, folder, manual_dir=manual_dir, verbose=0)
        assert resumed["history"] == whole["history"], folder.name
        assert resumed["test"] == whole["test"], folder.name
        assert recorded_elbo(folder) == recorded_elbo(whole_folder)
    stopped_early = ("early stopping ended this run after epoch 5: nothing to train; "
                     "evaluating the weights of its best epoch\n")
    assert (capsys.readouterr().out == stopped_early) == (epochs == 6)  # an epoch left
    as_a_new_process()
    _, continued = zoo.train(dataclasses.replace(config, epochs=epochs + 1), whole_folder,
                             manual_dir=manual_dir, verbose=0)
    assert continued["optimizer_steps"] == whole["optimizer_steps"] + 16 * (patience == 2)
    if patience == 1:
        assert capsys.readouterr().out.endswith(stopped_early)
        assert continued["history"] == whole["history"]
        assert continued["test"] == whole["test"]


def test_the_plateau_schedule_resumes_with_the_run_it_halved_in(manual_dir, tmp_path):
    """Adam at 0.06: the validation -ELBO is best in epoch 4 and no better for the next 5,
    so the plateau schedule halves the rate after epoch 9 and epoch 10 trains at 0.03.
    Stopped in epoch 7 (two epochs into the stall), the resumed ``zoo.train`` halves it at
    the same epoch and ends with the numbers of the run never stopped (Keras's
    ReduceLROnPlateau, started afresh, counted epoch 7 an improvement and halved nothing)."""
    config = zoo.RunConfig(
        model="mlp_vae", overrides={"latent_dim": 2, "hidden_units": [64, 64],
                                    "learning_rate": 0.06},
        epochs=10, learning_rate_schedule="plateau", train_examples=2000,
        eval_examples=500, batch_size=128, eval_samples=2, deterministic=True)
    whole_folder, stopped = tmp_path / "whole", tmp_path / "stopped"
    copy = InEpoch(7, lambda batch: shutil.copytree(whole_folder, stopped))
    as_a_new_process()
    _, whole = zoo.train(config, whole_folder, manual_dir=manual_dir, callbacks=[copy],
                         verbose=0)
    validation, rates = whole["history"]["val_neg_elbo"], whole["history"]["lr"]
    assert min(validation[:9]) == validation[3] and rates[8] == rates[0] == 2 * rates[9]
    as_a_new_process()
    _, resumed = zoo.train(config, stopped, manual_dir=manual_dir, verbose=0)
    assert resumed["history"] == whole["history"]
    assert resumed["test"] == whole["test"]


def test_the_plateau_schedule_resumes_with_the_run():
    """The plateau schedule's state after replaying a run's recorded epochs (validation
    values that stall, the learning rates it logged) is that of the callback that saw
    those epochs: halved from 2e-5 at epoch 7 to its floor, 1e-5, its count restarts there
    (replayed at the restored rate, 1e-5 throughout, it would not have halved nor
    restarted); the optimizer's learning rate is left as the backup restored it."""
    config = zoo.RunConfig(model="mlp_vae", learning_rate_schedule="plateau")
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=[8])
    model.compile(learning_rate=2e-5)
    history = {"val_neg_elbo": [], "lr": []}
    (seen,) = [callback for callback in run_callbacks(config.plan())
               if hasattr(callback, "cooldown")]
    seen.set_model(model)
    seen.on_train_begin()
    for epoch, value in enumerate([200, 190, 191, 192, 193, 194, 195, 196, 197]):
        logs = {"val_neg_elbo": value}
        seen.on_epoch_end(epoch, logs)
        for name in history:
            history[name].append(logs[name])
    restored = tf_keras.backend.get_value(model.optimizer.lr)  # what the backup holds
    assert restored == pytest.approx(1e-5) and history["lr"][6] == pytest.approx(2e-5)
    epoch_log = EpochLog()
    epoch_log.record["history"] = history
    (resumed,) = [callback for callback in run_callbacks(config.plan(), epoch_log)
                  if hasattr(callback, "cooldown")]
    resumed.set_model(model)
    resumed.on_train_begin()
    resumed.on_epoch_begin(len(history["lr"]))
    assert (resumed.best, resumed.wait, resumed.cooldown_counter) == (
        seen.best, seen.wait, seen.cooldown_counter) == (190, 2, 0)
    assert tf_keras.backend.get_value(model.optimizer.lr) == restored


def continued_to_the_same_numbers(config, folder, whole, manual_dir, capsys):
    """A run of 2 epochs, finished, then given 3: the same call trains nothing more, and
    the raised one trains epoch 3 only and ends with the numbers of the run given 3 epochs
    from the start, recording where it ended before."""
    as_a_new_process()
    _, short = zoo.train(dataclasses.replace(config, epochs=2), folder, manual_dir=manual_dir,
                         verbose=0)
    capsys.readouterr()
    begun = EpochsBegun()
    again, recorded = zoo.train(dataclasses.replace(config, epochs=2), folder,
                                manual_dir=manual_dir, callbacks=[begun], verbose=0)
    assert begun.epochs == [] and recorded == files.json_roundtrip(short)
    assert capsys.readouterr().out == (
        f"{folder} holds this run, finished after 2 epochs: nothing to train (more epochs "
        f"continue it; --overwrite trains it anew; `zoo eval {folder}` evaluates it again)\n")
    as_a_new_process()
    _, continued = zoo.train(config, folder, manual_dir=manual_dir, callbacks=[begun],
                             verbose=0)
    assert begun.epochs == [3]
    assert "continuing the run finished after 2 epochs at epoch 3" in capsys.readouterr().out
    assert continued["history"] == whole["history"] and continued["test"] == whole["test"]
    assert continued["optimizer_steps"] == whole["optimizer_steps"]
    assert continued["epoch_seconds"][:2] == short["epoch_seconds"]
    assert [(end["epochs"], end["test"]) for end in continued["continued_from"]] == [
        (2, short["test"])]
    assert [piece["epochs"] for piece in continued["pieces"]] == [[1, 2], [3, 3]]
    assert continued["pieces"][0] == short["pieces"][0]
    assert json.loads((folder / runs.RUN_CONFIG).read_text())["epochs"] == 3


def test_a_resumed_run_drops_the_epochs_its_backup_lost_from_its_pieces(tmp_path, capsys):
    """A crash between an epoch's log and its backup (the log is written first): the epochs
    file records 5 epochs in two pieces, the backup holds 3. Resumed at epoch 4, the second
    piece keeps epoch 3 (its seconds: that epoch's), and a third piece begins at 4 on this
    machine; a run folder from before pieces were kept gets one piece of unknown origin."""
    path = tmp_path / runs.EPOCHS
    files.write_json(path, {"history": {"loss": [5.0, 4.0, 3.0, 2.0, 1.0]},
                            "seconds": [1.0, 2.0, 4.0, 8.0, 16.0],
                            "pieces": [{"epochs": [1, 2], "seconds": 3.0, "cpu": "A"},
                                       {"epochs": [3, 5], "seconds": 28.0, "cpu": "B"}]})
    epoch_log = EpochLog(path, {"cpu": "C", "git_commit": "abc"})
    epoch_log.on_train_begin()
    epoch_log.on_epoch_begin(3)
    assert epoch_log.pieces == [{"epochs": [1, 2], "seconds": 3.0, "cpu": "A"},  # cut short:
                                {"epochs": [3, 3], "seconds": 4.0, "cpu": "B", "ended": None}]
    assert epoch_log.record["pieces"][2]["epochs"] == [4, 3]  # none trained yet
    epoch_log.on_epoch_end(3, {"loss": 0.5})
    (piece,) = epoch_log.pieces[2:]
    assert piece["epochs"] == [4, 4] and piece["seconds"] == epoch_log.record["seconds"][3]
    assert (piece["cpu"], piece["git_commit"], piece["gpus"]) == ("C", "abc", None)
    assert files.read_json(path)["pieces"] == epoch_log.pieces
    assert "resuming at epoch 4 (epochs 1-3 were run before)" in capsys.readouterr().out
    files.write_json(path, {"history": {"loss": [5.0, 4.0]}, "seconds": [1.0, 2.0]})
    unrecorded = [{"epochs": [1, 2], "seconds": 3.0, "ended": None,
                   "note": "trained before the zoo recorded pieces"}]
    older = EpochLog(path, {"cpu": "C"})
    older.on_train_begin()  # a fit that trains no epoch (early stopping had ended the run)
    assert older.pieces == unrecorded
    older.on_epoch_begin(2)  # one that trains epoch 3
    older.on_epoch_end(2, {"loss": 3.0})
    assert older.pieces == [*unrecorded, {**older.pieces[1], "epochs": [3, 3]}]
    assert older.pieces[1]["seconds"] == older.record["seconds"][2]


def test_the_determinism_benchmark_records_the_settings_it_is_given(manual_dir, tmp_path, capsys):
    """benchmarks/determinism.py's main here; each of its runs is a process of its own."""
    determinism = benchmark_script("determinism")
    out = tmp_path / "determinism.json"
    with pytest.raises(SystemExit) as refused:
        determinism.main(["--train-examples", "50001", "--manual-dir", str(manual_dir),
                          "--out", str(out)])
    assert refused.value.code == 2 and capsys.readouterr().err.strip().splitlines()[-1].endswith(
        "error: --train-examples=50001 is more than the 50000 examples of binarized_mnist's "
        "train split; use at most 50000")
    assert not out.exists()
    # Two of the four settings (a process each): the zoo's own, and with autotuning.
    determinism.main(["--runs", "1", "--epochs", "1", "--train-examples", "10000",
                      "--eval-examples", "1000", "--settings", "fused adam",
                      "fused adam, autotune", "--manual-dir", str(manual_dir),
                      "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["train_examples"] == 10000 and result["eval_examples"] == 1000
    settings = result["settings"]
    assert list(settings) == ["fused adam", "fused adam, autotune"]
    fused = settings["fused adam"]["elbo_nats"]
    assert len(fused) == 1 and -350 < fused[0] < -150  # trained: untrained is about -543
    assert settings["fused adam, autotune"]["elbo_nats"] == fused  # the same data, bitwise
