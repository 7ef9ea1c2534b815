"""Run by test_mirrored.py in a fresh process: one CPU split into 2 logical devices, then
every builder named on the command line (every registered one without names), at its small
size (small.py), trained a few steps on one device and under MirroredStrategy on both,
from the same initial weights and data. The last batch has 3 rows, which the replicas share
unevenly (2 and 1). Prints one JSON line of differences."""

import json
import sys
import time

import zoo  # imports no TensorFlow

zoo.quiet.legacy_keras()  # a program of the zoo's own: TensorFlow starts without Keras 3
import tensorflow as tf  # noqa: E402

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import tf_keras  # noqa: E402  (after the device split, which must come first)

from small import small  # noqa: E402


def trained(name, strategy, images, initial_weights=None):
    """``(initial weights, initial and trained trainable variables, the epoch's terms)`` of
    the model ``name`` built under ``strategy`` (from ``initial_weights`` where given) and
    fit for one epoch: the loss, reconstruction and KL its training steps logged, each the
    mean over the epoch's examples of the objective's per-example values, reduced over the
    replicas. (Both traced: an eager reference differs from the traced replicas by the
    rounding of fused kernels, 1e-5 of beta_vae's loss. Evaluation under replicas runs the
    same objective with the evaluation noise: replica_check.py compares it, inside and
    outside a MirroredStrategy, and test_distribute.py every epoch's validation.)"""
    with strategy.scope():
        model = small(name, latent_dim=4)
        model.compile(optimizer=tf_keras.optimizers.SGD(0.005))
    if initial_weights is not None:
        model.set_weights(initial_weights)
    initial = model.get_weights()
    before = [variable.numpy() for variable in model.trainable_variables]
    model.seed = 7
    targets = tf.range(len(images)) % model.classes if model.conditional else images
    batches = tf.data.Dataset.from_tensor_slices((images, targets)).batch(64)
    logs = model.fit(batches, epochs=1, verbose=0).history
    terms = {term: values[0] for term, values in logs.items()}
    assert int(model.step.numpy()) == 5  # one training forward pass per batch, on any replica count
    after = [variable.numpy() for variable in model.trainable_variables]
    return initial, before, after, terms


def main(names):
    images = next(iter(zoo.data.load("binarized_mnist", "train", 259, shuffle=False,
                                     first=259)))[0]  # (decodes only these)
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
        tf_keras.utils.set_random_seed(0)
        initial, before, w1, terms1 = trained(name, single, images)
        _, _, w2, terms2 = trained(name, mirrored, images, initial)
        report[name] = {
            "weights_max_abs_diff": max(float(abs(a - b).max()) for a, b in zip(w1, w2)),
            "weights_moved": max(float(abs(a - b).max()) for a, b in zip(w1, before)),
            "single": terms1, "mirrored": terms2,
            "seconds": time.perf_counter() - started}
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:] or zoo.list())
