"""The benchmark runner: recipe -> train -> test ELBO and log-likelihood -> result file.

``run`` trains a recipe with ``zoo.train`` (a resumable run folder
``benchmarks/weights/<row>/`` while it trains) and leaves one weights file per row,
``benchmarks/weights/<row>.h5`` (``pretrained.save_row``: the model it holds and its weights by
path), and writes ``benchmarks/results/<row>.json``: the recipe, the test metrics in nats,
the test ELBO of the first 2,000 test images (one seeded code each: what
``zoo.get(name, weights=...)`` is checked against), epochs run, wall time, hardware,
package versions, git commit, parameters and the weights file's SHA-256. ``record`` adds a
later re-evaluation (``zoo eval ROW.h5 -k K --record``: more samples, other hardware).
``leaderboard`` writes ``benchmarks/LEADERBOARD.md`` from the result files alone.
"""

import datetime
import math
import pathlib
import shutil
import time

from zoo import data, files, pretrained, provenance, recipes
from zoo.disentanglement import FACTOR_DATASETS, disentanglement, settings, sizes_for
from zoo.errors import ConfigError
from zoo.evaluate import evaluate
from zoo.train import train

BENCHMARKS = pathlib.Path("benchmarks")
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
        "finished": _now(),
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
    (benchmarks / "results").mkdir(parents=True, exist_ok=True)
    files.write_json(benchmarks / "results" / f"{recipe.name}.json", result)
    shutil.rmtree(folder)  # the row file holds the weights; the result file the rest
    leaderboard(benchmarks)
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
    metrics = evaluate(model, test, samples=1, seed=0, verbose=0)
    return {"elbo_nats": metrics["elbo_nats"], "examples": metrics["examples"], "samples": 1,
            "seed": 0}


def record(weights, metrics, subset, seconds):
    """Adds a re-evaluation of the row whose weights file is ``weights``
    (``benchmarks/weights/<row>.h5``) to its result file, and regenerates the leaderboard;
    returns the result file's path."""
    weights = pathlib.Path(weights)
    benchmarks = weights.parent.parent
    path = benchmarks / "results" / f"{weights.stem}.json"
    result = files.read_json(path)
    digest = files.sha256(weights)
    if result.get("weights_sha256", digest) != digest:
        raise ConfigError(f"{weights} is not the file {path} was recorded with (SHA-256 "
                          f"{digest[:16]}..., recorded {result['weights_sha256'][:16]}...); "
                          "re-run the recipe (zoo bench) instead of recording")
    result.setdefault("evaluations", []).append({
        "test": metrics, "first_2000": subset, "eval_seconds": seconds, "finished": _now(),
        "weights_sha256": digest, "environment": provenance.environment()})
    result.setdefault("first_2000", subset)
    files.write_json(path, result)
    leaderboard(benchmarks)
    return path


def row_of(weights):
    """The result file of the row whose weights file is ``weights``, or None."""
    path = pathlib.Path(weights)
    result = path.parent.parent / "results" / f"{path.stem}.json"
    return files.read_json(result) if path.suffix == ".h5" and result.is_file() else None


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def leaderboard(benchmarks=BENCHMARKS):
    """Writes ``LEADERBOARD.md`` from every ``results/*.json`` and returns its text: a table
    per dataset, rows sorted by -log p(x), the evaluation with the most importance samples
    shown."""
    benchmarks = pathlib.Path(benchmarks)
    results = [files.read_json(path) for path in sorted((benchmarks / "results").glob("*.json"))]
    results = [result for result in results if "recipe" in result]
    if not results:
        raise ConfigError(f"no result files in {benchmarks / 'results'}; run `zoo bench "
                          "recipes/NAME.toml` first")
    lines = [
        "# Leaderboard",
        "",
        "Generated by `zoo bench --leaderboard` from `benchmarks/results/*.json`; do not edit.",
        "Test split, nats per example, lower is better. -log p(x): importance-sampled with K",
        "posterior samples (the IWAE bound; the highest K a row was evaluated with). Each row",
        "is a pretrained model: `zoo.get(MODEL, weights=DATASET)` (or the weights name that",
        "`zoo list --pretrained` gives). Re-evaluate one with `zoo eval",
        "benchmarks/weights/ROW.h5 -k K --record`. A conditional row (family conditional)",
        "reports -log p(x|y) and its ELBO given the true label: not comparable with the",
        "unconditional rows. The published column is the row's committed recipe's",
        "[reference].",
    ]
    by_dataset = {}
    for result in results:
        recipe = result["recipe_contents"]
        by_dataset.setdefault(f"{recipe['dataset']} ({recipe['binarization']})", []).append(
            result)
    for dataset, rows in sorted(by_dataset.items()):
        lines += ["", f"## {dataset}", "",
                  "| row | model (family) | -log p(x) (K) | -ELBO | published, like for like "
                  "| budget | parameters | commit | weights |",
                  "|---|---|---|---|---|---|---|---|---|"]
        rows.sort(key=lambda r: -best_test(r).get("log_likelihood_nats", -math.inf))
        lines += [_row(result, _reference(result, benchmarks.parent), benchmarks)
                  for result in rows]
    lines += _disentanglement_section([r for r in results if "disentanglement" in r])
    text = "\n".join(lines) + "\n"
    with files.atomic_path(benchmarks / "LEADERBOARD.md") as partial:
        partial.write_text(text)
    return text


def best_test(result):
    """The test metrics with the most importance samples: the row's run or a later
    re-evaluation (the latest of equals)."""
    tests = [result["test"], *(e["test"] for e in result.get("evaluations", []))]
    return max(reversed(tests), key=lambda t: t.get("log_likelihood_samples", 0))


def _reference(result, repo):
    """The row's published anchor: the ``[reference]`` of its committed recipe
    (``repo/recipes/<row>.toml``: an anchor found after the run counts), else, without a
    readable one, the reference its run recorded."""
    try:
        return recipes.reference_of(repo / "recipes" / f"{result['recipe']}.toml")
    except ConfigError:
        return result["recipe_contents"].get("reference", {})


def _vector_unit(environment):
    """The widest vector unit a result file's CPU flags list, as ", AVX-512", ", AVX2",
    ", AVX" or ", no AVX"; "" for result files written before flags were recorded."""
    flags = environment.get("cpu_flags")
    if flags is None:
        return ""
    widest = next((name for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"),
                                           ("avx", "AVX")) if flag in flags), "no AVX")
    return f", {widest}"


def _row(result, reference, benchmarks):
    """A row of its dataset's table; the weights file named from the leaderboard's folder
    (``benchmarks/weights/ROW.h5``), whatever path the run was given."""
    recipe, environment = result["recipe_contents"], result["environment"]
    test = best_test(result)
    published = (f"{-reference['log_likelihood_nats']:.2f}"
                 if "log_likelihood_nats" in reference else "none")
    if reference.get("source"):
        published += f" ({reference['source']})"
    log_likelihood = (f"{-test['log_likelihood_nats']:.2f} ({test['log_likelihood_samples']})"
                      if "log_likelihood_nats" in test else "—")
    elbo = f"{-test['elbo_nats']:.2f}"
    if "log_likelihood_bits_per_dim" in test:  # 8-bit pixels: bits per dimension as well
        log_likelihood += f"; {test['log_likelihood_bits_per_dim']:.3f} bits/dim"
    if "elbo_bits_per_dim" in test:
        elbo += f"; {test['elbo_bits_per_dim']:.3f} bits/dim"
    hardware = ", ".join(environment["gpus"]) or (
        f"{environment['cpu']} ({environment['cpu_count']} cores{_vector_unit(environment)})")
    budget = (f"{result['epochs_run']}/{recipe['epochs']} epochs"
              + (f" of the first {recipe['train_examples']} train examples"
                 if recipe.get("train_examples") else "") + ", "
              + (f"tested on the first {test['examples']} test examples, "
                 if recipe.get("eval_examples") else "")
              + f"{result['train_seconds'] / 60:.0f} min training + "
              f"{result['eval_seconds'] / 60:.1f} min test, {hardware}")
    family = _family(recipe["model"])
    parameters = (f"{result['parameters'] / 1e6:.2f} M" if "parameters" in result else "—")
    return (f"| {result['recipe']} | {recipe['model']} ({family}) | {log_likelihood} "
            f"| {elbo} | {published} | {budget} | {parameters} "
            f"| {(environment['git_commit'] or '?')[:7]} "
            f"| `{benchmarks.resolve().name}/weights/{result['recipe']}.h5` |")


# The scores of the disentanglement table: (metric, score, column heading)
DISENTANGLEMENT_COLUMNS = (("beta_vae", "eval_accuracy", "BetaVAE"),
                           ("factor_vae", "eval_accuracy", "FactorVAE"),
                           ("mig", "score", "MIG"), ("dci", "disentanglement", "DCI"),
                           ("sap", "score", "SAP"), ("modularity", "score", "modularity"),
                           ("modularity", "explicitness_test", "explicitness"))


def _disentanglement_section(results):
    """The disentanglement table: one line per recipe setting (rows that differ only in
    their seed), each score the mean over the seeds with their range."""
    if not results:
        return []
    groups = {}
    for result in results:
        setting = {k: v for k, v in result["recipe_contents"].items()
                   if k not in ("seed", "reference")}
        groups.setdefault(repr(sorted(setting.items(), key=str)), []).append(result)
    lines = ["", "## Disentanglement on sprites", "",
             "The six metrics of disentanglement_lib (`zoo.disentanglement`) on the encoder's "
             "mean, each higher is better (0 to 1), and the test reconstruction in nats "
             "(lower is better): the mean over the seeds, their range in brackets. Each seed "
             "is a row of its own above and a pretrained model. A CPU budget: "
             "disentanglement_lib trained each model 300,000 steps; these, the steps shown.",
             "", "| model (family) | seeds (rows) | reconstruction | -ELBO | "
             + " | ".join(heading for _, _, heading in DISENTANGLEMENT_COLUMNS)
             + " | steps | budget | metric sizes |",
             "|---|---|---|---|" + "---|" * len(DISENTANGLEMENT_COLUMNS) + "---|---|---|"]
    for rows in sorted(groups.values(), key=lambda rows: rows[0]["recipe"]):
        rows.sort(key=lambda r: r["recipe_contents"]["seed"])
        recipe = rows[0]["recipe_contents"]
        seeds = ", ".join(f"{r['recipe_contents']['seed']} ({r['recipe']})" for r in rows)
        scores = [_spread([r["disentanglement"]["scores"].get(metric, {}).get(name)
                           for r in rows], "{:.3f}")
                  for metric, name, _ in DISENTANGLEMENT_COLUMNS]
        reconstruction = _spread([best_test(r)["reconstruction_nats"] for r in rows], "{:.1f}")
        elbo = _spread([-best_test(r)["elbo_nats"] for r in rows], "{:.1f}")
        steps = _spread([r["optimizer_steps"] for r in rows], "{:.0f}")
        minutes = max(r["train_seconds"] for r in rows) / 60
        sizes = {r["disentanglement"]["sizes"]["mig"]["num_train"] for r in rows if "mig" in
                 r["disentanglement"]["sizes"]}
        lines.append(f"| {recipe['model']} ({_family(recipe['model'])}) | {seeds} "
                     f"| {reconstruction} | {elbo} | {' | '.join(scores)} | {steps} "
                     f"| at most {minutes:.0f} min training a seed "
                     f"| {'/'.join(f'{n:,}' for n in sorted(sizes))} points |")
    return lines


def _spread(values, form):
    """``mean (min-max)`` of ``values`` (values alike as written: the mean alone; None
    among them: —)."""
    if not values or any(value is None for value in values):
        return "—"
    mean, low, high = (form.format(v) for v in (sum(values) / len(values), min(values),
                                                max(values)))
    return mean if low == high else f"{mean} ({low}–{high})"


def _family(model):
    """The family (module) of builder ``model``; ? for one this checkout does not
    register."""
    from zoo.errors import UnknownModelError
    from zoo.models.registry import builder
    try:
        return builder(model).build.__module__.rsplit(".", 1)[-1]
    except UnknownModelError:
        return "?"
