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

from zoo import files, pretrained, provenance, recipes, results
from zoo.disentanglement import FACTOR_DATASETS, disentanglement, settings, sizes_for
from zoo.evaluate import subset_metrics
from zoo.train import train

BENCHMARKS = results.BENCHMARKS


def run(recipe_path, benchmarks=BENCHMARKS, *, manual_dir=None, data_dir=None,
        overwrite=False, verbose="auto", metric_points=None):
    """Runs the recipe at ``recipe_path``; returns the result dict it writes. On a dataset
    of known factors (sprites) the row also gets the six disentanglement metrics
    (``disentanglement_metrics``; ``metric_points``: fewer points than
    disentanglement_lib's, for a quick look)."""
    recipe = recipes.load(recipe_path, manual_dir, data_dir)
    benchmarks = pathlib.Path(benchmarks)
    folder = benchmarks / "weights" / recipe.name
    started = time.time()
    plan = recipe.plan
    model, metrics = train(plan, folder, overwrite=overwrite, verbose=verbose)
    weights = benchmarks / "weights" / f"{recipe.name}.h5"
    pretrained.save_row(model, weights)
    result = {
        "recipe": recipe.name,
        "recipe_file": str(recipe_path),
        "recipe_contents": recipe.as_toml_dict(),
        "test": metrics["test"],
        "data": metrics["data"],
        "first_2000": subset_metrics(model, plan),
        "epochs_run": metrics["epochs_run"],
        "optimizer_steps": metrics["optimizer_steps"],
        "distribution": metrics["distribution"],
        "dtype_policy": metrics["dtype_policy"],
        "train_seconds": metrics["train_seconds"],
        "pieces": metrics.get("pieces", []),  # (a run folder finished before they were kept: none)
        "eval_seconds": metrics["eval_seconds"],
        "wall_seconds": time.time() - started,
        "finished": provenance.now(),
        "parameters": model.count_params(),
        "weights": str(weights),
        "weights_sha256": files.sha256(weights),
        "history": metrics["history"],
        "environment": metrics["environment"],
    }
    if plan.dataset.name in FACTOR_DATASETS:
        result["disentanglement"] = disentanglement_metrics(
            model, plan, metric_points, verbose=int(verbose != 0))
        result["wall_seconds"] = time.time() - started
    results.save(benchmarks, result)
    shutil.rmtree(folder)  # the row file holds the weights; the result file the rest
    return result


def disentanglement_metrics(model, plan, points=None, verbose=1):
    """The six disentanglement metrics of a row's model on its dataset's known factors
    (``zoo.disentanglement``), seeded by the recipe's seed (``plan``: its run resolved
    once), at disentanglement_lib's sizes or with ``points`` training points:
    ``{"scores", "seed", "sizes", "seconds"}``."""
    started = time.time()
    sizes = sizes_for(points)
    scores = disentanglement(model, plan.dataset.name, seed=plan.config.seed, sizes=sizes,
                             data_dir=plan.data_dir, verbose=verbose)
    return {"scores": scores, "seed": plan.config.seed,
            "sizes": {name: settings(name, sizes) for name in scores},
            "seconds": time.time() - started}
