"""Run by test_mirrored.py in a fresh process: one CPU split into 2 logical devices, then
every builder named on the command line (every registered one without names), at its small
size (small.py), trained through ``zoo.train`` (the entry point users take) on
fashion_mnist, dynamically binarized, with its labels for a conditional model: 2 epochs of
5 steps, once under an entered OneDeviceStrategy and once under an entered MirroredStrategy
over both devices. The last batch of each epoch has 3 rows, which the replicas share
unevenly (2 and 1). ``python strategy_check.py MANUAL_DIR [NAME ...]`` prints one JSON line
of differences."""

import json
import sys
import time

import zoo  # imports no TensorFlow

zoo.cpu_replicas(2)  # before TensorFlow starts its devices
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from small import SMALL  # noqa: E402


# a builder that trains in stages by epoch: the second stage in the second epoch
STAGES = {"vq_vae": {"prior_epochs": 1}}
# a builder also trained in mixed precision (mixed_bfloat16 where the CPU computes
# bfloat16, else float32 with its one-line note), reported as "cnn_vae:mixed_precision"
MIXED = "cnn_vae"


def config(name, **settings):
    """``name`` at its small size with 4 latents, trained by SGD at 0.002 (at the small
    size's own rate where it sets one; vq_vae's prior trains after its autoencoder, in
    the second epoch: STAGES): Adam divides by each gradient's root mean square
    and so amplifies the replicas' rounding, and so does a larger rate (at 0.005 the conv
    builders moved a weight by 1.07 in ten steps, and ended 2e-3 of that apart)."""
    overrides = {"learning_rate": 0.002, **SMALL[name], "latent_dim": 4,
                 **STAGES.get(name, {})}
    return zoo.RunConfig(model=name, overrides=overrides, dataset="fashion_mnist", epochs=2,
                         batch_size=64, eval_samples=1, optimizer="sgd", train_examples=259,
                         eval_examples=67, **settings)


def trained(run, strategy, manual_dir, callbacks=()):
    """``(trainable variables, metrics)`` of ``zoo.train`` of the RunConfig ``run`` inside
    ``strategy``: the history of its 2 epochs (training and validation terms, each the
    mean over the epoch's examples, reduced over the replicas) and its test metrics."""
    with strategy.scope():
        model, metrics = zoo.train(run, manual_dir=manual_dir, verbose=0,
                                   callbacks=list(callbacks))
    return [variable.numpy() for variable in model.trainable_variables], metrics


class Initial(tf_keras.callbacks.Callback):
    """The trainable variables a run starts from, as training begins."""

    def on_train_begin(self, logs=None):
        self.weights = [variable.numpy() for variable in self.model.trainable_variables]


def compared(run, single, mirrored, manual_dir):
    """``run`` trained under ``single`` and under ``mirrored``: how far apart they ended,
    how far they moved, and both histories, test metrics, steps and strategies."""
    started = time.perf_counter()
    initial = Initial()
    w1, metrics1 = trained(run, single, manual_dir, [initial])
    w2, metrics2 = trained(run, mirrored, manual_dir)
    before = initial.weights
    return {
        "weights_max_abs_diff": max(float(abs(a - b).max())
                                    for a, b in zip(w1, w2, strict=True)),
        "weights_moved": max(float(abs(a - b).max())
                             for a, b in zip(w1, before, strict=True)),
        **{key: {"single": metrics1[key], "mirrored": metrics2[key]}
           for key in ("history", "test", "optimizer_steps", "distribution", "dtype_policy")},
        "seconds": time.perf_counter() - started}


def main(manual_dir, names):
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single = tf.distribute.OneDeviceStrategy("/cpu:0")
    report = {"replicas": mirrored.num_replicas_in_sync}
    if "beta_tcvae" in names:  # at its default size too
        with mirrored.scope():  # built under the replicas, compiled outside their scope
            gathering = zoo.get("beta_tcvae", latent_dim=4)
        gathering.compile()
        report["beta_tcvae_steps_per_execution"] = {  # run, and kept in a .keras file
            "run": int(gathering._steps_per_execution.numpy()),
            "saved": gathering.get_compile_config()["steps_per_execution"]}
    for name in names:
        report[name] = compared(config(name), single, mirrored, manual_dir)
    if MIXED in names:
        report[f"{MIXED}:mixed_precision"] = compared(config(MIXED, mixed_precision=True),
                                                      single, mirrored, manual_dir)
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or zoo.list())
