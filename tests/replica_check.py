"""Run by test_distribute.py in a fresh process: the zoo's own paths under strategies a user
enters, on a CPU split into 2 logical devices (``zoo.cpu_replicas``, before TensorFlow
starts). ``python replica_check.py OUT MANUAL_DIR`` trains ``CONFIG`` with ``zoo.train``
under an entered OneDeviceStrategy and under an entered MirroredStrategy over both devices,
evaluates the mirrored run's model inside and outside that strategy, and runs one
``zoo.tune`` trial under it; it writes OUT/report.json and each run's trainable weights
(and the tune trial's best model's) as OUT/NAME.npz, for the test to compare with runs on
no strategy."""

import json
import pathlib
import sys

import zoo  # first: it quiets TensorFlow's start-up

import numpy as np  # noqa: I100
import tensorflow as tf
import tf_keras

zoo.cpu_replicas(2)

# 40 steps an epoch inside a KL warm-up, the last batch of 9 rows: 5 + 4 on two replicas.
CONFIG = zoo.RunConfig(model="mlp_vae", overrides={"latent_dim": 2, "hidden_units": [64]},
                       epochs=3, batch_size=128, eval_samples=2, deterministic=True,
                       kl_warmup_epochs=3, train_examples=5001, eval_examples=1000)
# 8 steps an epoch, the last of 105 rows: 53 + 52.
TUNE = {"max_trials": 1, "epochs": 2, "ranges": ["latent_dim=2:3"], "train_examples": 1001,
        "eval_examples": 1000}
# A search of each: a model of images, and a conditional one on labelled batches.
TUNED = {"mlp_vae": {}, "cvae": {"dataset": "fashion_mnist"}}


def initial_weights():
    """The weights zoo.train starts ``CONFIG`` from (its seed, then the builder)."""
    tf_keras.utils.set_random_seed(CONFIG.seed)
    return zoo.get(CONFIG.model, **CONFIG.overrides).trainable_variables


def trial_record(search):
    """The search's one trial: its values, and every metric's value at its best epoch."""
    trial = next(iter(search.tuner.oracle.trials.values()))
    return {"values": trial.hyperparameters.values,
            "metrics": {name: [observation.value[0]
                               for observation in trial.metrics.get_history(name)]
                        for name in trial.metrics.metrics}}


def main(out, manual_dir):
    out = pathlib.Path(out)
    report = {"process_strategy": [type(zoo.strategy()).__name__,
                                   zoo.strategy().num_replicas_in_sync], "tune_settings": TUNE,
              "tuned": TUNED}
    weights = {"initial": initial_weights()}
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    for name, strategy in (("one_device", tf.distribute.OneDeviceStrategy("/cpu:0")),
                           ("mirrored", mirrored)):
        with strategy.scope():
            model, metrics = zoo.train(CONFIG, manual_dir=manual_dir, verbose=0)
        report[name] = {key: metrics[key] for key in ("optimizer_steps", "history", "test",
                                                      "distribution", "run")}
        weights[name] = model.trainable_variables
    test = zoo.data.load("binarized_mnist", "test", 128, manual_dir=manual_dir).take(4)
    with mirrored.scope():
        inside = zoo.evaluate(model, test, samples=3, verbose=0)
    report["evaluate"] = {"mirrored": inside, "outside": zoo.evaluate(model, test, samples=3,
                                                                      verbose=0)}
    for name, settings in TUNED.items():
        with mirrored.scope():
            search = zoo.tune(name, directory=str(out / "tuning"), manual_dir=manual_dir,
                              verbose=0, **TUNE, **settings)
        report[f"tune_{name}"] = trial_record(search)
        weights[f"tune_{name}"] = search.tuner.get_best_models(1)[0].trainable_variables
    for name, variables in weights.items():
        np.savez(out / f"{name}.npz", *[variable.numpy() for variable in variables])
    (out / "report.json").write_text(json.dumps(report))


if __name__ == "__main__":
    main(*sys.argv[1:])
