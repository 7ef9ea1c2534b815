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


def config(name):
    """``name`` at its small size with 4 latents, trained by SGD at 0.002 (at the small
    size's own rate where it sets one; vq_vae's prior trains after its autoencoder, in
    the second epoch: STAGES): Adam divides by each gradient's root mean square
    and so amplifies the replicas' rounding, and so does a larger rate (at 0.005 the conv
    builders moved a weight by 1.07 in ten steps, and ended 2e-3 of that apart)."""
    overrides = {"learning_rate": 0.002, **SMALL[name], "latent_dim": 4,
                 **STAGES.get(name, {})}
    return zoo.RunConfig(model=name, overrides=overrides, dataset="fashion_mnist", epochs=2,
                         batch_size=64, eval_samples=1, optimizer="sgd", train_examples=259,
                         eval_examples=67)


def trained(name, strategy, manual_dir):
    """``(trainable variables, metrics)`` of ``zoo.train`` of ``config(name)`` inside
    ``strategy``: the history of its 2 epochs (training and validation terms, each the
    mean over the epoch's examples, reduced over the replicas) and its test metrics."""
    with strategy.scope():
        model, metrics = zoo.train(config(name), manual_dir=manual_dir, verbose=0)
    return [variable.numpy() for variable in model.trainable_variables], metrics


def initial(name):
    """The trainable variables ``zoo.train`` starts ``config(name)`` from (its seed, then
    the builder with the overrides the run implies)."""
    plan = config(name).plan()
    tf_keras.utils.set_random_seed(plan.config.seed)
    model = plan.model(259)
    return [variable.numpy() for variable in model.trainable_variables]


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
        started = time.perf_counter()
        before = initial(name)
        w1, metrics1 = trained(name, single, manual_dir)
        w2, metrics2 = trained(name, mirrored, manual_dir)
        report[name] = {
            "weights_max_abs_diff": max(float(abs(a - b).max())
                                        for a, b in zip(w1, w2, strict=True)),
            "weights_moved": max(float(abs(a - b).max())
                                 for a, b in zip(w1, before, strict=True)),
            **{key: {"single": metrics1[key], "mirrored": metrics2[key]}
               for key in ("history", "test", "optimizer_steps", "distribution")},
            "seconds": time.perf_counter() - started}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:] or zoo.list())
