"""Where a training step's time goes: op time by kind, for the zoo's ``fit`` and the plain
TF loop of ``throughput.py``.

    python benchmarks/step_profile.py [--models mlp_vae cnn_vae] [--steps 64]
        [--manual-dir DIR] [--out FILE]

For each model (batch 128, binarized_mnist, Adam 1e-3), each contender is warmed up, then
trained for ``--steps`` steps under ``tf.profiler``; the TensorFlow ops of the trace are
summed by kind, in milliseconds per training step:

- ``convolutions``: Conv2D and its gradients (oneDNN's ``_Mkl*Conv*`` included);
- ``matrix products``: MatMul and its fused and oneDNN variants;
- ``optimizer updates``: the fused ``ResourceApply*`` kernels (the zoo's legacy Adam; the
  TF loop's new Adam runs elementwise ops instead, counted under ``other``);
- ``input pipeline``: ops on tf.data's threads, and ``IteratorGetNext`` (the step taking
  or waiting for its batch);
- ``other``: everything else (elementwise ops, reductions, the posterior, the KL, metrics).

Ops can overlap (TensorFlow runs independent ops side by side), so op time may exceed the
step's wall time; both are reported, with the ten op types that took longest. Control
flow and function-call ops (``While``, ``PartitionedCall``, ...) are left out, as their
time is that of the ops they run. Written to ``--out`` (default
``benchmarks/results/step-profile-<cpu|gpu>.json``) with the environment. The trace is
read with TensorFlow's own trace converter, the one TensorBoard's profile plugin uses
(``tensorflow.python.profiler.internal``, not a public API).
"""

import argparse
import collections
import json
import pathlib
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's zoo
sys.path.insert(0, str(HERE))  # throughput.py's contenders and result files
import throughput  # noqa: E402  (after the paths; imports no TensorFlow)
CONTENDERS = ("zoo fit", "tf loop")
KINDS = ("convolutions", "matrix products", "optimizer updates", "input pipeline", "other")
CALL_OPS = {"While", "StatelessWhile", "If", "StatelessIf", "Case", "StatelessCase",
            "PartitionedCall", "StatefulPartitionedCall"}


def op_kind(op, thread):
    """The kind of one op event (``op`` its type, ``thread`` its thread's name)."""
    if thread.startswith("tf_data") or op.startswith("IteratorGetNext"):
        return "input pipeline"
    if "Conv" in op:
        return "convolutions"
    if "MatMul" in op:
        return "matrix products"
    if op.startswith("ResourceApply"):
        return "optimizer updates"
    return "other"


def op_times(trace, steps):
    """``(by kind, by op type)``: milliseconds per step summed from a trace-viewer trace."""
    threads = {event["tid"]: event["args"]["name"] for event in trace["traceEvents"]
               if event.get("ph") == "M" and event.get("name") == "thread_name"}
    by_kind = dict.fromkeys(KINDS, 0.0)
    by_op = collections.Counter()
    for event in trace["traceEvents"]:
        # op kernels carry ``is_eager``; the profiler's own regions do not
        if event.get("ph") != "X" or "is_eager" not in event.get("args", {}):
            continue
        if event["name"] in CALL_OPS:
            continue
        milliseconds = event.get("dur", 0.0) / 1000 / steps  # trace times are in us
        by_kind[op_kind(event["name"], threads.get(event["tid"], ""))] += milliseconds
        by_op[event["name"]] += milliseconds
    return by_kind, by_op


def profiled(contender, steps):
    """``(wall seconds, trace)`` of ``contender.run(steps)`` under ``tf.profiler``."""
    import tensorflow as tf
    from tensorflow.python.profiler.internal import _pywrap_profiler_plugin

    with tempfile.TemporaryDirectory() as logdir:
        tf.profiler.experimental.start(logdir)
        try:
            started = time.perf_counter()
            contender.run(steps)
            seconds = time.perf_counter() - started
        finally:  # a failed run still ends the profiler session
            tf.profiler.experimental.stop()
        planes = [str(path) for path in pathlib.Path(logdir).rglob("*.xplane.pb")]
        data, _ = _pywrap_profiler_plugin.xspace_to_tools_data(planes, "trace_viewer@", {})
    return seconds, json.loads(data)


def profile(model, steps, manual_dir, batch_size=128, say=print):
    """This model's section: for each contender, wall and op time per step, by kind."""
    section = {}
    for name in CONTENDERS:
        contender = throughput.make_contender(name, model, batch_size, manual_dir)
        contender.run(16)  # tracing, first-call set-up
        seconds, trace = profiled(contender, steps)
        by_kind, by_op = op_times(trace, steps)
        total = sum(by_kind.values())
        section[name] = {
            "wall_ms_per_step": seconds * 1000 / steps,
            "op_ms_per_step": total,
            "kinds_ms_per_step": by_kind,
            "kinds_share": {kind: value / total for kind, value in by_kind.items()},
            "top_ops_ms_per_step": dict(by_op.most_common(10)),
        }
        say(f"{model} {name:>7}: {seconds * 1000 / steps:6.2f} ms/step wall, "
            f"{total:6.2f} ms/step in ops: " + ", ".join(
                f"{kind} {value:.2f}" for kind, value in by_kind.items()))
    return section


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=["mlp_vae", "cnn_vae"],
                        choices=["mlp_vae", "cnn_vae"])
    parser.add_argument("--steps", type=int, default=64, help="profiled steps (default 64)")
    parser.add_argument("--manual-dir", help="folder of the tfds source files (offline)")
    parser.add_argument("--out", help="result file (default "
                        "benchmarks/results/step-profile-<cpu|gpu>.json)")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    out, environment = throughput.result_file(parser, args, "step-profile")
    started = time.time()
    models = {model: profile(model, args.steps, args.manual_dir) for model in args.models}
    throughput.write_result(out, {"batch_size": 128, "steps": args.steps, "models": models},
                            started, environment)
    print(f"result file: {out}")


if __name__ == "__main__":
    main()
