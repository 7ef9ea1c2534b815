"""Training with model.fit on real binarized_mnist, the strategy, and the whole train job."""

import dataclasses
import json
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import zoo
from zoo import files, runs, weight_files
from zoo.errors import ConfigError, NonFiniteLossError, RunDirError, ShortEpochError
from zoo.callbacks import FullEpochs, StopOnNonFiniteLoss
from zoo.devices import active_strategy
from zoo.train import run_callbacks


# Convolutions at half their default widths: -174 and -181 nats after the 300 steps
# (beta_vae -192 at a quarter: too near the bound below).
@pytest.mark.parametrize("name, size", [("mlp_vae", {}), ("cnn_vae", {"filters": (16, 32)}),
                                        ("beta_vae", {"filters": (16, 32)})])
def test_a_few_hundred_steps_improve_the_validation_elbo(name, size, load):
    tf_keras.utils.set_random_seed(0)
    model = zoo.get(name, latent_dim=8, **size)
    validation = load("binarized_mnist", "validation", 250).take(4)  # 1,000 images
    before = zoo.evaluate(model, validation, verbose=0)["elbo_nats"]
    history = model.fit(load("binarized_mnist", "train", 64).take(300),
                        validation_data=validation, verbose=0)
    after = zoo.evaluate(model, validation, verbose=0)["elbo_nats"]

    assert before < -400  # an untrained Bernoulli decoder: about 784 * log 2 = 543 nats
    assert after > -200 and after > before + 250
    logged = {"loss", "reconstruction", "kl", "val_loss", "val_reconstruction", "val_kl"}
    assert logged <= set(history.history)


@pytest.mark.parametrize("steps_per_execution, batch", [(1, 1), (16, 5)])
def test_a_non_finite_loss_stops_training_naming_the_epoch_and_the_term(
        load, steps_per_execution, batch):
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
    model.compile(optimizer=model.optimizer, steps_per_execution=steps_per_execution)
    kernel = model.encoder.layers[-2].kernel  # the posterior's parameters: NaN
    kernel.assign(tf.fill(kernel.shape, float("nan")))
    callback = StopOnNonFiniteLoss()
    # Checked after every execution: 16 steps by default, here the 5 the data have.
    with pytest.raises(NonFiniteLossError,
                       match=rf"^training stopped at epoch 1, batch {batch}: the "
                             r"(reconstruction|kl|loss) term is nan .*lower the learning rate"):
        model.fit(load("binarized_mnist", "train", 32).take(5), callbacks=[callback],
                  verbose=0)


def test_early_stopping_inside_the_kl_warm_up_keeps_the_target_beta(test_images, tmp_path):
    """The KL weight is a function of the step, not a weight: restoring the best epoch's
    weights (inside the warm-up) cannot bring back a smaller beta, nor can saving."""
    tf_keras.utils.set_random_seed(3)
    model = zoo.get("beta_vae", latent_dim=2, filters=(8, 16))  # beta = 4
    model.compile(learning_rate=3e-3, kl_warmup_steps=1000)  # far beyond this run
    x, valid = test_images[:384], test_images[384:]
    stop = tf_keras.callbacks.EarlyStopping("val_neg_elbo", patience=1,
                                            restore_best_weights=True)
    history = model.fit(x, batch_size=64, epochs=4, validation_data=valid, callbacks=[stop],
                        verbose=0).history
    # In the warm-up the training loss weighs the KL by less than 4 ...
    assert history["loss"][-1] < history["reconstruction"][-1] + 3 * history["kl"][-1]
    zoo.save(model, tmp_path)
    for trained in (model, zoo.load(tmp_path)):  # ... the model, kept or reloaded, by 4
        result = trained.evaluate(valid, batch_size=128, return_dict=True, verbose=0)
        assert result["kl"] > 0.5
        assert result["loss"] == pytest.approx(result["reconstruction"] + 4 * result["kl"],
                                               rel=1e-5)


def test_the_process_strategy_spans_every_gpu_or_else_one_device():
    """(zoo.cpu_replicas splitting the CPU: test_distribute's replica_check.py.)"""
    gpus = len(tf.config.list_logical_devices("GPU"))
    assert zoo.strategy().num_replicas_in_sync == (gpus if gpus > 1 else 1)
    with tf.distribute.OneDeviceStrategy("/cpu:0").scope() as entered:
        assert active_strategy() is entered
    assert active_strategy() is zoo.strategy()


def test_a_short_epoch_stops_training_naming_the_epoch_and_the_strategy(test_images):
    """tf_keras never re-iterates a distributed dataset between epochs: 2 epochs of 2 steps
    over 2 batches leave epoch 2 empty, and Keras alone would end the run as finished."""
    one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
    with one_device.scope():
        model = zoo.get("mlp_vae", latent_dim=2, hidden_units=[8])
    batches = one_device.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices(test_images[:256]).batch(128))
    with pytest.raises(ShortEpochError, match=r"^epoch 2 trained 0 of its 2 steps under "
                                              r"OneDeviceStrategy \(1 replica\): its input ran "
                                              "short, and the run is not finished"):
        FullEpochs.fit(model, batches, 2, epochs=2, verbose=0)
    assert int(model.optimizer.iterations.numpy()) == 2


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory, manual_dir):
    """One short real run through zoo.train, with its run folder."""
    folder = tmp_path_factory.mktemp("run")
    config = zoo.RunConfig(model="mlp_vae", overrides={"latent_dim": 2, "hidden_units": [32]},
                           epochs=2, batch_size=64, eval_samples=2, deterministic=True,
                           train_examples=8000, eval_examples=1000)
    model, metrics = zoo.train(config, folder, manual_dir=manual_dir, verbose=0)
    return folder, config, model, metrics


def test_train_writes_a_complete_run_folder(finished_run):
    folder, _, _, metrics = finished_run
    assert sorted(p.name for p in folder.iterdir()) == sorted(  # backup/: to continue it
        [runs.MODEL_CONFIG, runs.WEIGHTS, runs.BEST_WEIGHTS, runs.RUN_CONFIG, runs.METRICS,
         runs.BACKUP])
    recorded = json.loads((folder / runs.METRICS).read_text())
    assert recorded["test"]["examples"] == 1000 and recorded["epochs_run"] == 2
    assert recorded["optimizer_steps"] == 2 * 125  # 8,000 images in batches of 64
    assert recorded["run"]["binarization"] == "static"
    assert recorded["run"]["overrides"] == {"latent_dim": 2, "hidden_units": [32]}
    assert len(recorded["history"]["val_kl"]) == 2
    assert recorded["environment"]["packages"]["tf-keras"].startswith("2.21")
    assert -300 < recorded["test"]["elbo_nats"] == pytest.approx(
        -(recorded["test"]["reconstruction_nats"] + recorded["test"]["kl_nats"]))


def test_a_saved_run_reloads_to_the_identical_test_elbo(finished_run, load):
    folder, config, model, metrics = finished_run
    reloaded = zoo.load(folder)
    assert reloaded.zoo_config == model.zoo_config
    for original, restored in zip(model.get_weights(), reloaded.get_weights(), strict=True):
        np.testing.assert_array_equal(original, restored)
    test = load("binarized_mnist", "test", config.batch_size, first=config.eval_examples)
    again = zoo.evaluate(reloaded, test, samples=config.eval_samples, seed=config.seed,
                         verbose=0)
    assert again == metrics["test"]


def test_the_same_run_may_reuse_its_folder_but_another_run_may_not(finished_run, tmp_path):
    folder, config, _, _ = finished_run
    record = json.loads((folder / runs.RUN_CONFIG).read_text())
    assert runs.claim(folder, record) == folder
    with pytest.raises(RunDirError, match=r"holds a different run \(its epochs differ "
                       r"\(fewer epochs than a run has trained cannot be undone\)\); "
                       "pick another --out or pass --overwrite"):
        runs.claim(folder, {**record, "epochs": 1})
    assert runs.check_claim(folder, {**record, "epochs": 3}) == runs.SHORTER
    with pytest.raises(RunDirError, match=r"holds a different run \(its batch_size: "
                       rf"{record['batch_size']} there, 32 here; its seed: 0 there, 1 here\); "):
        runs.claim(folder, {**record, "batch_size": 32, "seed": 1})

    run = tmp_path / "overwritten"
    runs.claim(run, record)
    (run / runs.BACKUP).mkdir()
    runs.claim(run, record, overwrite=True)  # the same command again: it resumes
    assert (run / runs.BACKUP).is_dir()
    runs.claim(run, {**record, "epochs": 3}, overwrite=True)  # another run: a fresh start
    assert not (run / runs.BACKUP).exists()
    (run / runs.BACKUP).mkdir()
    files.write_json(run / runs.METRICS, {})
    runs.claim(run, {**record, "epochs": 3}, overwrite=True)  # the same, finished: anew
    assert not (run / runs.BACKUP).exists() and not (run / runs.METRICS).exists()

    older = tmp_path / "older"  # written before RunConfig had monitor, train/eval_examples
    before = {**record, **runs.LATER_FIELDS}  # a run of then: their values of today
    runs.claim(older, before)
    (older / runs.BACKUP).mkdir()
    files.write_json(older / runs.RUN_CONFIG,
                     {k: v for k, v in before.items() if k not in runs.LATER_FIELDS})
    runs.claim(older, before, overwrite=True)  # the same run: it resumes
    assert (older / runs.BACKUP).is_dir()
    for field, value in (("monitor", "val_loss"), ("train_examples", 500),
                         ("eval_examples", 500), ("mixed_precision", True)):
        with pytest.raises(RunDirError, match=rf"its {field}: "):
            runs.check_claim(older, {**before, field: value})

    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(RunDirError, match="not empty and holds no zoo run"):
        runs.claim(tmp_path, record)
    with pytest.raises(RunDirError, match="is a file; pass --out a folder"):
        runs.claim(tmp_path / "notes.txt", record)


def test_more_epochs_are_refused_in_one_line_where_they_cannot_continue_a_run(
        finished_run, tmp_path):
    """A cosine schedule follows the epochs; a run finished without backup/ (by an older
    zoo) has no training state to go on from; a continuation cut short is finished by its
    own command, not refused as "fewer epochs". Early stopping and the plateau schedule
    continue (test_resume.py)."""
    folder, _, _, _ = finished_run
    record = json.loads((folder / runs.RUN_CONFIG).read_text())
    more = {**record, "epochs": 5}
    cosine = tmp_path / "cosine"
    shutil.copytree(folder, cosine)
    files.write_json(cosine / runs.RUN_CONFIG, {**record, "learning_rate_schedule": "cosine"})
    with pytest.raises(RunDirError, match=r"holds this run with 2 epochs, and its cosine "
                       "learning-rate schedule is set by the epochs, so 5 epochs is another "
                       "run; pick another --out or pass --overwrite to train it anew$"):
        runs.claim(cosine, {**more, "learning_rate_schedule": "cosine"})
    older = tmp_path / "older"
    shutil.copytree(folder, older)
    shutil.rmtree(older / runs.BACKUP)
    with pytest.raises(RunDirError, match=r"finished by a zoo that did not keep its last "
                                          r"training state \(backup/\)"):
        runs.claim(older, more)
    for refused in (cosine, older):  # nothing changed by a refusal
        assert json.loads((refused / runs.RUN_CONFIG).read_text())["epochs"] == 2
        assert (refused / runs.METRICS).is_file() and (refused / runs.WEIGHTS).is_file()
    cut_short = tmp_path / "cut_short"  # continued to 5 epochs, stopped in epoch 3
    shutil.copytree(folder, cut_short)
    runs.claim(cut_short, more)
    assert not (cut_short / runs.METRICS).exists()
    with pytest.raises(RunDirError, match="holds this run being continued to 5 epochs, "
                       "unfinished: the same command with --epochs 5 finishes it"):
        runs.check_claim(cut_short, record)


def test_a_run_may_watch_its_own_objective_instead_of_the_elbo(manual_dir, tmp_path):
    """An IWAE's objective is its k-sample bound (val_loss), not the -ELBO: with monitor =
    "val_loss" the best weights are those of the epoch with the best bound."""
    config = zoo.RunConfig(model="iwae", overrides={"latent_dim": 2, "hidden_units": [16]},
                           epochs=2, batch_size=500, eval_samples=1, monitor="val_loss",
                           early_stopping_patience=1, learning_rate_schedule="plateau",
                           train_examples=10000, eval_examples=1000)
    assert {c.monitor for c in run_callbacks(config.plan())
            if hasattr(c, "monitor")} == {"val_loss"}
    _, metrics = zoo.train(config, tmp_path, manual_dir=manual_dir, verbose=0)
    bound, elbo = metrics["history"]["val_loss"], metrics["history"]["val_neg_elbo"]
    assert all(b < e for b, e in zip(bound, elbo, strict=True))  # two different numbers
    best = weight_files.weights_attributes(tmp_path / runs.BEST_WEIGHTS)
    assert best["val_loss"] == pytest.approx(min(bound)) and "val_neg_elbo" not in best
    assert best["epoch"] == 1 + bound.index(min(bound))


def test_beta_tcvae_is_built_with_the_size_of_the_training_set_it_is_trained_on(
        manual_dir, tmp_path):
    """Its minibatch-weighted estimator needs the true N: zoo.train passes the number of
    training examples (here --train-examples) unless the run sets dataset_size; the model's
    own config records it, so the run reloads with it; its total correlation is tracked."""
    config = zoo.RunConfig(model="beta_tcvae", overrides={"latent_dim": 2, "hidden_units": [16]},
                           epochs=2, batch_size=200, eval_samples=1, train_examples=600,
                           eval_examples=200)
    model, metrics = zoo.train(config, tmp_path, manual_dir=manual_dir, verbose=0)
    assert model.objective.dataset_size == 600
    assert metrics["run"]["overrides"] == {"latent_dim": 2, "hidden_units": (16,)}  # as asked
    assert zoo.load(tmp_path).objective.dataset_size == 600
    assert len(metrics["history"]["val_total_correlation"]) == 2
    assert config.plan().model_overrides(600) == {"latent_dim": 2, "hidden_units": (16,),
                                                  "dataset_size": 600}  # checked
    chosen = dataclasses.replace(config, overrides={"dataset_size": 1000})
    assert chosen.plan().model_overrides(600) == {"dataset_size": 1000}  # the run's own wins
    assert zoo.RunConfig(model="mlp_vae").plan().model_overrides(600) == {}  # no such one


def test_a_damaged_model_json_is_one_line_naming_what_it_lacks(tmp_path):
    zoo.save(zoo.get("mlp_vae", latent_dim=2, hidden_units=(8,)), tmp_path)
    (tmp_path / runs.MODEL_CONFIG).write_text('{"overrides": {}}')
    with pytest.raises(RunDirError, match=r"model.json has no 'name': it is damaged or not "
                                          r"the zoo's; re-run what wrote it"):
        zoo.load(tmp_path)
    (tmp_path / runs.MODEL_CONFIG).write_text('["mlp_vae"]')
    with pytest.raises(RunDirError, match="holds list, not the zoo's JSON object"):
        zoo.load(tmp_path)


def test_loading_an_unfinished_run_names_the_missing_file(tmp_path):
    with pytest.raises(RunDirError, match="model.json is missing; is .* a zoo run folder"):
        zoo.load(tmp_path)
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(8,))
    zoo.save(model, tmp_path)
    (tmp_path / runs.WEIGHTS).unlink()
    with pytest.raises(RunDirError, match="no weights file .*model.h5; .* is a saved model "
                                          r"\(no run.json\) whose weights are gone: save the "
                                          r"model there again \(zoo.save\)"):
        zoo.load(tmp_path)
    zoo.save(model, tmp_path)  # a run folder that did not finish: resumed by its command
    (tmp_path / runs.RUN_CONFIG).write_text('{"model": "mlp_vae"}')  # no metrics.json
    (tmp_path / runs.WEIGHTS).unlink()
    with pytest.raises(RunDirError, match="the run did not finish: the same `zoo train ... "
                                          "--out .*` .* resumes it"):
        zoo.load(tmp_path)


@pytest.mark.parametrize("config, message", [
    (zoo.RunConfig(model="mlp_vae", epochs=0), "epochs must be an int >= 1, got 0"),
    (zoo.RunConfig(model="mlp_vea"), "did you mean 'mlp_vae'"),
    (zoo.RunConfig(model="mlp_vae", overrides={"latent": 2}), "no override 'latent'"),
    (zoo.RunConfig(model="mlp_vae", dataset="mnist", binarization="threshold"),
     "mnist accepts binarization dynamic, static, none, not 'threshold'"),
    (zoo.RunConfig(model="mlp_vae", eval_samples=0), "eval_samples must be an int >= 1"),
    (zoo.RunConfig(model="mlp_vae", batch_size=-1), "batch_size must be an int >= 1"),
    (zoo.RunConfig(model="mlp_vae", jit_compile="yes"), "jit_compile must be True or False"),
    (zoo.RunConfig(model="mlp_vae", train_examples=-5), "train_examples must be an int >= 0"),
    (zoo.RunConfig(model="iwae", monitor="val_elbo"),
     "monitor must be one of val_neg_elbo, val_loss, got 'val_elbo'"),
])
def test_a_bad_run_config_fails_before_anything_is_written(config, message, tmp_path):
    with pytest.raises(zoo.ZooError, match=message):
        zoo.train(config, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_evaluate_takes_arrays_as_well_as_datasets(test_images):
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
    from_array = zoo.evaluate(model, test_images, samples=3, verbose=0, batch_size=128)
    batches = tf.data.Dataset.from_tensor_slices(test_images).batch(128)
    from_dataset = zoo.evaluate(model, batches, samples=3, verbose=0)
    assert from_array == from_dataset and from_array["examples"] == len(test_images)
    with pytest.raises(ConfigError, match="samples must be an int >= 1, got 0"):
        zoo.evaluate(model, test_images, samples=0)


def test_a_strategy_the_caller_entered_is_the_one_train_uses(manual_dir):
    one_device = tf.distribute.OneDeviceStrategy("/cpu:0")
    config = zoo.RunConfig(model="mlp_vae", overrides={"latent_dim": 2, "hidden_units": [8]},
                           epochs=1, batch_size=500, eval_samples=1, jit_compile=True,
                           train_examples=10000, eval_examples=1000)
    with one_device.scope():
        model, metrics = zoo.train(config, manual_dir=manual_dir, verbose=0)
    assert model.distribute_strategy is one_device
    assert model.jit_compile and metrics["run"]["jit_compile"] is True
    assert metrics["history"]["loss"][0] < 544  # 784 * log 2: it learned something
