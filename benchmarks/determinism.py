"""Same-seed runs in separate processes, with and without TensorFlow's oneDNN CPU kernels.

    python benchmarks/determinism.py [--runs 5] [--epochs 3] [--manual-dir DIR] [--out FILE]

Each run is a fresh Python process that trains the same small mlp_vae (latent 2, one hidden
layer of 64, batch 256, seed 0) with ``zoo.train(RunConfig(..., deterministic=True))`` on
binarized_mnist for ``--epochs`` epochs and records its test ELBO (nats per example, full
precision). Runs alternate between oneDNN on (TensorFlow's default on x86 Linux) and off
(``TF_ENABLE_ONEDNN_OPTS=0`` before TensorFlow's import, as ``deterministic`` asks for; see
zoo/train.py). Printed and written to ``--out`` (default
``benchmarks/results/determinism-cpu.json``) with the environment: every run's ELBO, how
many distinct values each setting gave, and their spread in nats.
"""

import argparse
import datetime
import json
import os
import pathlib
import subprocess
import sys
import tempfile

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's zoo (also in the runs)
SETTINGS = {"onednn on": {"TF_ENABLE_ONEDNN_OPTS": "1"},
            "onednn off": {"TF_ENABLE_ONEDNN_OPTS": "0"}}
RUN = """
import sys, warnings
sys.path.insert(0, {repo!r})
import zoo
warnings.simplefilter("ignore")  # the oneDNN warning: measured here
config = zoo.RunConfig(model="mlp_vae", overrides={{"latent_dim": 2, "hidden_units": [64]}},
                       epochs={epochs}, batch_size=256, eval_samples=2, deterministic=True)
zoo.train(config, {out!r}, manual_dir={manual_dir!r}, verbose=0)
"""


def one_run(setting, epochs, manual_dir, folder):
    """The test ELBO and oneDNN state recorded by one run in a fresh process."""
    code = RUN.format(repo=str(HERE.parent), epochs=epochs, out=str(folder),
                      manual_dir=manual_dir)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**os.environ, **SETTINGS[setting]}, timeout=1200)
    if done.returncode:
        raise SystemExit(f"determinism.py: error: a run failed:\n{done.stderr[-2000:]}")
    metrics = json.loads((folder / "metrics.json").read_text())
    return metrics["test"]["elbo_nats"], metrics["environment"]["onednn"]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per setting (default 5)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--manual-dir", help="folder of the tfds source files (offline)")
    parser.add_argument("--out", default=str(HERE / "results" / "determinism-cpu.json"))
    args = parser.parse_args(argv)
    for name in ("runs", "epochs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be >= 1")
    from zoo import data, runs
    from zoo.errors import ZooError

    try:
        data.prepared_builder("binarized_mnist", manual_dir=args.manual_dir)  # fail fast
    except ZooError as error:
        parser.error(str(error))
    elbos = {setting: [] for setting in SETTINGS}
    with tempfile.TemporaryDirectory() as scratch:
        for index in range(args.runs):
            for setting in SETTINGS:
                folder = pathlib.Path(scratch) / f"{setting.replace(' ', '-')}-{index}"
                elbo, onednn = one_run(setting, args.epochs, args.manual_dir, folder)
                if onednn != (setting == "onednn on"):
                    raise SystemExit(f"determinism.py: error: {setting} ran with oneDNN "
                                     f"{'on' if onednn else 'off'}")
                elbos[setting].append(elbo)
                print(f"run {index + 1}/{args.runs} {setting:>10}: test ELBO {elbo!r}",
                      flush=True)
    summary = {setting: {"elbo_nats": values, "distinct": len(set(values)),
                         "spread_nats": max(values) - min(values)}
               for setting, values in elbos.items()}
    result = {"epochs": args.epochs, "runs_per_setting": args.runs, "settings": summary,
              "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(
                  timespec="seconds"),
              "environment": runs.environment()}
    pathlib.Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    runs.write_json(pathlib.Path(args.out), result)
    for setting, values in summary.items():
        print(f"{setting}: {values['distinct']} distinct test ELBO(s) in {args.runs} runs, "
              f"spread {values['spread_nats']:.4f} nats")
    print(f"result file: {args.out}")


if __name__ == "__main__":
    main()
