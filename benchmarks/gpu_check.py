"""The zoo on a GPU machine: strategies, XLA and training throughput, in one result file.

    bash benchmarks/gpu_check.sh      # python benchmarks/gpu_check.py --manual-dir DIR

Made for a machine lent with GPUs (none on the 2-core CPU the zoo is built on); under 8
minutes on one GPU. It checks, and records in ``--out`` (default
``benchmarks/results/gpu-check.json``, with the environment):

- **strategies**: the distributed tests' reference run (mlp_vae, 3 epochs of 40 steps in a
  KL warm-up, the last batch of 9 rows split unevenly) by ``zoo.train`` on the GPU with no
  strategy, inside an entered ``OneDeviceStrategy("/gpu:0")``, and with two GPUs or more
  inside a ``MirroredStrategy`` over all of them; each against the first: optimizer steps
  equal, every epoch's history within 1e-4, weights within 1e-4 of their movement, test
  ELBO within 0.05 nats (``passed``: all four);
- **jit_compile**: the same run compiled with XLA: its seconds per epoch beside the plain
  run's, and its test ELBO (XLA draws other noise for the same seed: within 2 nats);
- **throughput**: ``model.fit`` of mlp_vae and cnn_vae at batch 128, plain and with XLA:
  examples/s over ``--steps`` timed steps after a warm-up call, the FLOPs of one training
  step (TensorFlow's profiler on the traced forward and backward pass) and so the fraction
  of the GPU's dense FP32 peak (a table of known GPUs below, or ``--peak-tflops``; TF32
  tensor cores, on by default in TensorFlow on Ampere and later, can take it past 1).

Exit status 1 when a check failed, 2 for a bad setting (no GPU without ``--allow-cpu``,
which runs the same checks on the CPU with fewer steps: a rehearsal of the script itself).
"""

import argparse
import contextlib
import dataclasses
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's zoo

import zoo  # noqa: E402  (quiets TensorFlow's start-up)
zoo.quiet.legacy_keras()  # noqa: E402  (a start without Keras 3)
import tensorflow as tf  # noqa: E402
import tf_keras  # noqa: E402

from zoo import files, provenance  # noqa: E402

CONFIG = zoo.RunConfig(model="mlp_vae", overrides={"latent_dim": 2, "hidden_units": [64]},
                       epochs=3, batch_size=128, eval_samples=2, deterministic=True,
                       kl_warmup_epochs=3, train_examples=5001)
# Dense FP32 (no tensor cores) peaks in TFLOPS, from the vendors' data sheets.
PEAK_TFLOPS = {"H200": 67.0, "H100 SXM": 67.0, "H100 PCIe": 51.0, "H100": 51.0,
               "A100": 19.5, "A10": 31.2, "L40S": 91.6, "L4": 30.3, "V100": 15.7,
               "T4": 8.1, "RTX 4090": 82.6}


def trained(strategy=None, **changes):
    """``zoo.train`` of CONFIG (with ``changes``) inside ``strategy``: steps, history, test,
    seconds per epoch, trainable weights."""
    with strategy.scope() if strategy else contextlib.nullcontext():
        model, metrics = zoo.train(dataclasses.replace(CONFIG, **changes), verbose=0,
                                   manual_dir=ARGS.manual_dir)
    return {"optimizer_steps": metrics["optimizer_steps"], "history": metrics["history"],
            "elbo_nats": metrics["test"]["elbo_nats"],
            "seconds_per_epoch": metrics["train_seconds"] / metrics["epochs_run"],
            "distribution": metrics["distribution"],
            "weights": [v.numpy() for v in model.trainable_variables]}


def compared(run, reference, initial):
    """The distributed tests' four criteria, with the figures behind them."""
    moved = max(float(abs(a - b).max()) for a, b in zip(reference["weights"], initial))
    weights = max(float(abs(a - b).max()) for a, b in zip(run["weights"], reference["weights"]))
    history = max(abs(a - b) / max(abs(b), 1.0) for name, values in reference["history"].items()
                  for a, b in zip(run["history"][name], values))
    elbo = abs(run["elbo_nats"] - reference["elbo_nats"])
    steps = run["optimizer_steps"] == reference["optimizer_steps"]
    return {"distribution": run["distribution"], "optimizer_steps": run["optimizer_steps"],
            "history_max_relative_difference": history, "weights_max_abs_difference": weights,
            "weights_moved": moved, "elbo_difference_nats": elbo,
            "passed": bool(steps and history < 1e-4 and weights < 1e-4 * moved and elbo < 0.05)}


def step_flops(model, batch_size):
    """FLOPs of one training step's forward and backward pass (the optimizer's update,
    a few per weight, left out), as TensorFlow's profiler counts them."""

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.objective_values(x, training=True)["loss"])
        return tape.gradient(loss, model.trainable_variables)

    graph = step.get_concrete_function(
        tf.TensorSpec([batch_size, *model.image_shape], tf.float32)).graph
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    return tf.compat.v1.profiler.profile(graph, options=options).total_float_ops


def throughput(name, jit_compile, steps, batch_size=128):
    model = zoo.get(name)
    model.compile(jit_compile=jit_compile)
    data = zoo.data.load("binarized_mnist", "train", batch_size, repeat=True,
                         manual_dir=ARGS.manual_dir)
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)  # tracing, XLA compilation
    started = time.perf_counter()
    model.fit(data, steps_per_epoch=steps, epochs=1, verbose=0)
    seconds = time.perf_counter() - started
    return {"examples_per_second": steps * batch_size / seconds, "steps": steps,
            "seconds": seconds, "step_flops": step_flops(model, batch_size)}


def peak_tflops(device_name):
    if ARGS.peak_tflops:
        return ARGS.peak_tflops
    return next((peak for key, peak in PEAK_TFLOPS.items() if key in device_name), None)


def main():
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus and not ARGS.allow_cpu:
        sys.exit("gpu_check: error: TensorFlow sees no GPU here; run it on a machine with "
                 "one, or pass --allow-cpu to rehearse the script on the CPU")
    device = (tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU")
              if gpus else "CPU")
    started = time.time()
    result = {"device": device, "gpus": len(gpus), "command": " ".join(sys.argv)}
    tf_keras.utils.set_random_seed(CONFIG.seed)
    initial = [v.numpy() for v in zoo.get(CONFIG.model, **CONFIG.overrides).trainable_variables]
    reference = trained()
    strategies = {"OneDeviceStrategy": tf.distribute.OneDeviceStrategy(
        "/gpu:0" if gpus else "/cpu:0")}
    if len(gpus) > 1:
        strategies["MirroredStrategy"] = zoo.strategy()  # over every GPU
    result["strategies"] = {name: compared(trained(strategy), reference, initial)
                            for name, strategy in strategies.items()}
    xla = trained(jit_compile=True)
    result["jit_compile"] = {
        "seconds_per_epoch": {"plain": reference["seconds_per_epoch"],
                              "xla": xla["seconds_per_epoch"]},
        "elbo_nats": {"plain": reference["elbo_nats"], "xla": xla["elbo_nats"]},
        "passed": abs(xla["elbo_nats"] - reference["elbo_nats"]) < 2.0}
    peak = peak_tflops(device)
    result["throughput"] = {"peak_fp32_tflops": peak}
    for name in ARGS.models:
        for jit_compile in (False, True):
            row = throughput(name, jit_compile, ARGS.steps)
            if peak:
                row["fraction_of_fp32_peak"] = (row["step_flops"] * row["examples_per_second"]
                                                / 128 / (peak * 1e12))
            result["throughput"][f"{name}{' xla' if jit_compile else ''}"] = row
    result["seconds"] = time.time() - started
    result["environment"] = provenance.environment()
    files.write_json(ARGS.out, result)
    for name, check in [*result["strategies"].items(), ("jit_compile", result["jit_compile"])]:
        print(f"{name}: {'passed' if check['passed'] else 'FAILED'}")
    for name, row in result["throughput"].items():
        if isinstance(row, dict):
            peak_text = (f", {row['fraction_of_fp32_peak']:.1%} of FP32 peak"
                         if "fraction_of_fp32_peak" in row else "")
            print(f"{name}: {row['examples_per_second']:,.0f} examples/s{peak_text}")
    print(f"result file: {ARGS.out} ({result['seconds']:.0f} s)")
    checks = [*result["strategies"].values(), result["jit_compile"]]
    return 0 if all(check["passed"] for check in checks) else 1


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--manual-dir", help="folder of the tfds source files (offline)")
    parser.add_argument("--out", default=str(HERE / "results" / "gpu-check.json"))
    parser.add_argument("--models", nargs="+", default=["mlp_vae", "cnn_vae"])
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per throughput row (default 1000; 20 on a CPU)")
    parser.add_argument("--peak-tflops", type=float,
                        help="the GPU's dense FP32 peak, for one not in the table")
    parser.add_argument("--allow-cpu", action="store_true",
                        help="run on the CPU when there is no GPU (a rehearsal)")
    args = parser.parse_args()
    if args.steps is None:
        args.steps = 1000 if tf.config.list_physical_devices("GPU") else 20
    return args


if __name__ == "__main__":
    ARGS = arguments()
    sys.exit(main())
