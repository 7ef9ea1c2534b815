"""Same-seed runs in separate processes: fused or new Adam, tf.data autotuning off or on.

    python benchmarks/determinism.py [--runs 5] [--epochs 3] [--train-examples N]
        [--eval-examples N] [--settings NAME ...] [--busy N] [--manual-dir DIR] [--out FILE]

Each run is a fresh Python process that trains the same small mlp_vae (latent 2, one hidden
layer of 64, batch 256, seed 0) with ``zoo.train(RunConfig(..., deterministic=True))`` on
binarized_mnist (its first ``--train-examples`` training images; default all) for
``--epochs`` epochs and records its test ELBO (nats per example, full precision; on the
first ``--eval-examples`` validation and test images, default all). Runs alternate between
four settings: the builders' optimizer, tf_keras's legacy (fused) Adam, or
``tf_keras.optimizers.Adam``, the new one (``zoo.models.vae.ADAM`` swapped), each with
the input pipeline's tf.data autotuning off (the zoo's default) or on
(``zoo.data.AUTOTUNE``); ``--settings`` runs only the named ones. Printed and written to
``--out`` (default ``benchmarks/results/determinism-cpu.json``) with the environment: every
run's ELBO, how many distinct values each setting gave, and their spread in nats.
``--busy N`` keeps N busy-looping processes running meanwhile: a machine with other work on
it, as CI machines often are.
"""

import argparse
import contextlib
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's zoo (also in the runs)
from zoo import quiet  # noqa: E402  (imports no TensorFlow)
SETTINGS = {"fused adam": ("tf_keras.optimizers.legacy.Adam", False),
            "new adam": ("tf_keras.optimizers.Adam", False),
            "fused adam, autotune": ("tf_keras.optimizers.legacy.Adam", True),
            "new adam, autotune": ("tf_keras.optimizers.Adam", True)}
RUN = """
import sys
sys.path.insert(0, {repo!r})
import tf_keras
import zoo
from zoo import data
from zoo.models import vae
vae.ADAM, data.AUTOTUNE = {optimizer}, {autotune}
config = zoo.RunConfig(model="mlp_vae", overrides={{"latent_dim": 2, "hidden_units": [64]}},
                       epochs={epochs}, batch_size=256, eval_samples=2, deterministic=True,
                       train_examples={train_examples}, eval_examples={eval_examples})
zoo.train(config, {out!r}, manual_dir={manual_dir!r}, verbose=0)
"""


def one_run(setting, epochs, train_examples, eval_examples, manual_dir, folder):
    """The test ELBO recorded by one run in a fresh process."""
    optimizer, autotune = SETTINGS[setting]
    code = RUN.format(repo=str(HERE.parent), optimizer=optimizer, autotune=autotune,
                      epochs=epochs, train_examples=train_examples,
                      eval_examples=eval_examples, out=str(folder),
                      manual_dir=manual_dir)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=1200, env={quiet.LEGACY_KERAS_VARIABLE: "1", **os.environ})
    # (started without Keras 3, as quiet.legacy_keras starts the zoo's own programs)
    if done.returncode:
        last = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise SystemExit(f"determinism.py: error: a {setting} run failed: {last}")
    return json.loads((folder / "metrics.json").read_text())["test"]["elbo_nats"]


@contextlib.contextmanager
def busy_processes(count):
    """``count`` processes spinning on a CPU core while the block runs."""
    spinners = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                for _ in range(count)]
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.kill()
            spinner.wait()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per setting (default 5)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--train-examples", type=int, default=0,
                        help="train on the first N training images (default 0: all)")
    parser.add_argument("--eval-examples", type=int, default=0,
                        help="validate and test on the first N images (default 0: all)")
    parser.add_argument("--settings", nargs="+", choices=list(SETTINGS), default=list(SETTINGS),
                        metavar="NAME", help="the settings to run, each quoted (default all: "
                        + "; ".join(SETTINGS) + ")")
    parser.add_argument("--busy", type=int, default=0,
                        help="busy-looping processes to run meanwhile (default 0)")
    parser.add_argument("--manual-dir", help="folder of the tfds source files (offline)")
    parser.add_argument("--out", default=str(HERE / "results" / "determinism-cpu.json"))
    args = parser.parse_args(argv)
    for name, minimum in (("runs", 1), ("epochs", 1), ("train_examples", 0), ("eval_examples", 0),
                          ("busy", 0)):
        if getattr(args, name) < minimum:
            parser.error(f"--{name.replace('_', '-')} must be >= {minimum}")
    from zoo import data, files, provenance
    from zoo.errors import ZooError

    try:
        for split, setting in (("train", "train_examples"), ("test", "eval_examples")):
            data.examples_in("binarized_mnist", split, args.manual_dir,  # fail fast
                             first=getattr(args, setting) or None,
                             setting=f"--{setting.replace('_', '-')}")
    except ZooError as error:
        parser.error(str(error))
    if len(set(args.settings)) < len(args.settings):
        parser.error("--settings names a setting twice; name each once")
    elbos = {setting: [] for setting in args.settings}
    with tempfile.TemporaryDirectory() as scratch, busy_processes(args.busy):
        for index in range(args.runs):
            for position, setting in enumerate(args.settings):
                folder = pathlib.Path(scratch) / f"run-{index}-{position}"
                elbo = one_run(setting, args.epochs, args.train_examples,
                               args.eval_examples, args.manual_dir, folder)
                elbos[setting].append(elbo)
                print(f"run {index + 1}/{args.runs} {setting:>20}: test ELBO {elbo!r}",
                      flush=True)
    summary = {setting: {"elbo_nats": values, "distinct": len(set(values)),
                         "spread_nats": max(values) - min(values)}
               for setting, values in elbos.items()}
    result = {"epochs": args.epochs, "train_examples": args.train_examples,
              "eval_examples": args.eval_examples,
              "runs_per_setting": args.runs,
              "busy_processes": args.busy, "settings": summary,
              "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(
                  timespec="seconds"),
              "environment": provenance.environment()}
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    files.write_json(pathlib.Path(args.out), result)
    for setting, values in summary.items():
        print(f"{setting}: {values['distinct']} distinct test ELBO(s) in {args.runs} runs, "
              f"spread {values['spread_nats']:.4f} nats")
    print(f"result file: {args.out}")


if __name__ == "__main__":
    main()
