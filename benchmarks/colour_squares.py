"""Colour by default: cnn_vae on a folder of coloured squares, a short run with the zoo's
defaults, and its reconstructions (README, "Your own data").

    python benchmarks/colour_squares.py [--epochs 8] [--images 5000] [--batch-sizes default 128]
        [--out benchmarks/results/colour-squares.json] [--pictures benchmarks/pictures]

Writes ``--images`` 32x32 PNGs (a square of one of three colours, a class subfolder each, at a
random place on a random background colour; seeded) into a temporary folder, which the zoo
splits 80/10/10, and trains ``cnn_vae`` on it for ``--epochs`` epochs with every setting the
zoo's default but the batch size: each of ``--batch-sizes`` (``default``: the zoo's own, 32
for a dataset this small) in a run of its own, seed 0, deterministic ops. For each run it
records the test ELBO (nats and bits/dim), the KL, and the mean absolute error of the
reconstructions (decoder mean at the posterior mean) over the squares' pixels and over the
backgrounds' pixels of the whole test split (a reconstruction of the background colour
alone errs on the square by the difference of the two colours), and draws ``zoo plot
recon`` into ``--pictures/colour_squares-batchN.png``. Result file: every run's settings,
numbers and seconds, with the environment (command, commit, versions, CPU).
"""

import argparse
import pathlib
import sys
import tempfile
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's zoo
sys.path.insert(0, str(HERE))  # throughput.py's result files
import throughput  # noqa: E402  (after the paths; imports no TensorFlow)

COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (50, 60, 210)}


def write_squares(folder, count, size=32, seed=0):
    """``count`` PNGs of ``size`` x ``size`` squares into ``folder/COLOUR/``."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    names = list(COLOURS)
    for name in names:
        (folder / name).mkdir(parents=True, exist_ok=True)
    for number in range(count):
        name = names[rng.integers(len(names))]
        image = np.empty([size, size, 3], np.uint8)
        image[:] = rng.integers(0, 256, 3)
        side = size // 2
        top, left = rng.integers(0, size - side, 2)
        image[top:top + side, left:left + side] = COLOURS[name]
        Image.fromarray(image).save(folder / name / f"{number:05d}.png")


def reconstruction_errors(model, plan):
    """Mean absolute reconstruction error over the squares' and the backgrounds' pixels of
    the test split (a pixel of the square: the class colour in all three channels)."""
    import numpy as np

    from zoo.plot import location

    colours = np.array([COLOURS[name] for name in plan.dataset.class_names]) / 255
    error = {"square": [0.0, 0], "background": [0.0, 0]}
    for x, label in plan.load("test", labels=True):
        x = x.numpy()
        mask = np.all(np.abs(x - colours[label.numpy()][:, None, None, :]) < 0.5 / 255, -1)
        rebuilt = model.decode(location(model, x)).mean().numpy()  # as zoo plot recon draws
        wrong = np.abs(rebuilt - x).mean(-1)
        for part, where in (("square", mask), ("background", ~mask)):
            error[part][0] += float(wrong[where].sum())
            error[part][1] += int(where.sum())
    return {f"{part}_abs_error": total / count for part, (total, count) in error.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--batch-sizes", nargs="+", default=["default", "128"])
    parser.add_argument("--out", type=pathlib.Path,
                        default=HERE / "results" / "colour-squares.json")
    parser.add_argument("--pictures", type=pathlib.Path, default=HERE / "pictures")
    args = parser.parse_args(argv)
    from zoo import quiet

    quiet.legacy_keras()
    import zoo
    from zoo import plot, provenance

    started, environment = time.time(), provenance.environment()
    args.pictures.mkdir(parents=True, exist_ok=True)
    runs = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = pathlib.Path(scratch) / "squares"
        write_squares(folder, args.images)
        for batch_size in args.batch_sizes:
            config = zoo.RunConfig(model="cnn_vae", dataset=str(folder), epochs=args.epochs,
                                   batch_size=None if batch_size == "default"
                                   else int(batch_size), deterministic=True)
            plan = config.plan()
            if any(run["batch_size_used"] == plan.config.batch_size for run in runs):
                raise SystemExit(f"--batch-sizes {batch_size} is {plan.config.batch_size}, "
                                 "as one before it is; list each batch size once")
            out = pathlib.Path(scratch) / f"run-{batch_size}"
            model, metrics = zoo.train(plan, out, verbose=0)
            picture = args.pictures / f"colour_squares-batch{plan.config.batch_size}.png"
            plot.from_run("recon", out, picture)
            run = {"batch_size": batch_size if batch_size == "default" else int(batch_size),
                   "batch_size_used": plan.config.batch_size,
                   "optimizer_steps": metrics["optimizer_steps"],
                   "train_seconds": metrics["train_seconds"],
                   "test": metrics["test"], **reconstruction_errors(model, plan),
                   "picture": str(picture.relative_to(HERE.parent))
                   if picture.is_relative_to(HERE.parent) else str(picture)}
            runs.append(run)
            print(f"batch {plan.config.batch_size}: {metrics['optimizer_steps']} steps, "
                  f"{metrics['test']['elbo_bits_per_dim']:.2f} bits/dim, KL "
                  f"{metrics['test']['kl_nats']:.1f} nats, reconstruction error "
                  f"{run['square_abs_error']:.3f} on the squares, "
                  f"{run['background_abs_error']:.3f} on the backgrounds; {picture}")
    result = {"model": "cnn_vae", "epochs": args.epochs, "images": args.images,
              "data": metrics["data"], "runs": runs}
    throughput.write_result(args.out, result, started, environment)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
