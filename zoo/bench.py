"""The benchmark runner: recipe -> train -> test ELBO and log-likelihood -> result file.

``run`` trains a recipe with ``zoo.train`` (a resumable run folder
``benchmarks/weights/<row>/`` while it trains) and leaves one weights file per row,
``benchmarks/weights/<row>.h5`` (``pretrained.save_row``: the model it holds and its weights by
path), and writes ``benchmarks/results/<row>.json``: the recipe, the test metrics in nats,
the test ELBO of the first 2,000 test images (one seeded code each: what
``zoo.get(name, weights=...)`` is checked against), epochs run, wall time, hardware,
package versions, git commit, parameters and the weights file's SHA-256. ``zoo.results``
reads them, adds a later re-evaluation (``record``: ``zoo eval ROW.h5 -k K --record``), and
its ``leaderboard`` writes ``benchmarks/LEADERBOARD.md`` from the result files alone.
"""

import pathlib
import shutil
import time

from zoo import data, files, pretrained, recipes, results
from zoo.disentanglement import FACTOR_DATASETS, disentanglement, settings, sizes_for
from zoo.evaluate import evaluate
from zoo.train import train

BENCHMARKS = results.BENCHMARKS
SUBSET = 2000  # test images behind a row's pretrained-weights check


def run(recipe_path, benchmarks=BENCHMARKS, *, manual_dir=None, data_dir=None,
        overwrite=False, verbose="auto", metric_points=None):
    """Runs the recipe at ``recipe_path``; returns the result dict it writes. On a dataset
    of known factors (sprites) the row also gets the six disentanglement metrics
    (``disentanglement_metrics``; ``metric_points``: fewer points than
    disentanglement_lib's, for a quick look)."""
    recipe = recipes.load(recipe_path)
    benchmarks = pathlib.Path(benchmarks)
    folder = benchmarks / "weights" / recipe.name
    started = time.time()
    model, metrics = train(recipe.config, folder, overwrite=overwrite, manual_dir=manual_dir,
                           data_dir=data_dir, verbose=verbose)
    weights = benchmarks / "weights" / f"{recipe.name}.h5"
    pretrained.save_row(model, weights)
    result = {
        "recipe": recipe.name,
        "recipe_file": str(recipe_path),
        "recipe_contents": recipe.as_toml_dict(),
        "test": metrics["test"],
        "first_2000": subset_metrics(model, recipe.config, manual_dir, data_dir),
        "epochs_run": metrics["epochs_run"],
        "optimizer_steps": metrics["optimizer_steps"],
        "distribution": metrics["distribution"],
        "train_seconds": metrics["train_seconds"],
        "eval_seconds": metrics["eval_seconds"],
        "wall_seconds": time.time() - started,
        "finished": results.now(),
        "parameters": model.count_params(),
        "weights": str(weights),
        "weights_sha256": files.sha256(weights),
        "history": metrics["history"],
        "environment": metrics["environment"],
    }
    if recipe.config.dataset in FACTOR_DATASETS:
        result["disentanglement"] = disentanglement_metrics(
            model, recipe.config, data_dir, metric_points, verbose=int(verbose != 0))
        result["wall_seconds"] = time.time() - started
    results.save(benchmarks, result)
    shutil.rmtree(folder)  # the row file holds the weights; the result file the rest
    return result


def disentanglement_metrics(model, config, data_dir=None, points=None, verbose=1):
    """The six disentanglement metrics of a row's model on its dataset's known factors
    (``zoo.disentanglement``), seeded by the recipe's seed, at disentanglement_lib's sizes
    or with ``points`` training points: ``{"scores", "seed", "sizes", "seconds"}``."""
    started = time.time()
    sizes = sizes_for(points)
    scores = disentanglement(model, config.dataset, seed=config.seed, sizes=sizes,
                             data_dir=data_dir, verbose=verbose)
    return {"scores": scores, "seed": config.seed,
            "sizes": {name: settings(name, sizes) for name in scores},
            "seconds": time.time() - started}


def subset_metrics(model, config, manual_dir=None, data_dir=None):
    """The test ELBO (nats) of the first 2,000 test images of the row's data, one code per
    image drawn with seed 0: a quick, exact check that a row's weights are the row's."""
    test = data.load(config.dataset, "test", SUBSET, binarization=config.binarization,
                     seed=config.seed, labels=model.conditional, manual_dir=manual_dir,
                     data_dir=data_dir).take(1)
    metrics = evaluate(model, test, samples=1, seed=0, verbose=0, objective_metrics=False)
    return {"elbo_nats": metrics["elbo_nats"], "examples": metrics["examples"], "samples": 1,
            "seed": 0}
