"""``zoo eval``: a saved model scored again with its run's settings: the test ELBO and
log p(x) (re-recorded in a leaderboard row's result file with ``--record``), and the
disentanglement metrics (recorded in its run folder). ``cli.py`` parses and prints; the
work is here.
"""

import json
import pathlib
import time

from zoo import data, datasets, files, provenance, results, runs, samplers
from zoo.config import RunConfig
from zoo.disentanglement import disentanglement, settings, sizes_for
from zoo.evaluate import evaluate, subset_metrics


def test_scores(source, *, examples=None, samples=None, log_likelihood_samples=None,
                record=False):
    """The test metrics of a saved model (a ``zoo.sources.Source``) with its run's settings:
    the first ``examples`` test images (default: the run's ``eval_examples``, or all),
    ``samples`` posterior samples each (default: the run's), its seed and batch size;
    ``log_likelihood_samples``: K for log p(x). With ``record`` (a leaderboard row's
    source), adds the evaluation to the row's result file and the leaderboard
    (``zoo.results.record``). Its data are read where the source says (``manual_dir``,
    ``data_dir``). Returns ``(metrics, the result file recorded in or None)``."""
    run, model = source.settings, source.model
    manual_dir, data_dir = source.manual_dir, source.data_dir
    plan = RunConfig.of_settings(run).plan(manual_dir, data_dir)
    first = examples if examples is not None else plan.config.eval_examples
    first = data.examples_in(plan.dataset, "test", manual_dir, data_dir, first=first or None,
                             setting="--examples")
    test = data.load(plan.dataset, "test", plan.config.batch_size, labels=model.conditional,
                     binarization=plan.config.binarization, seed=plan.config.seed,
                     first=first, manual_dir=manual_dir, data_dir=data_dir)
    started = time.time()
    metrics = evaluate(model, test, samples=samples or plan.config.eval_samples,
                       seed=plan.config.seed, log_likelihood_samples=log_likelihood_samples)
    if not record:
        return metrics, None
    subset = subset_metrics(model, plan)
    return metrics, results.record(source.row, metrics, subset, time.time() - started)


def disentanglement_scores(source, metrics=None, points=None):
    """The disentanglement metrics (default all six) of a saved model (a
    ``zoo.sources.Source``) on its run's dataset, seeded by its run's seed, at
    disentanglement_lib's sizes or with ``points`` training points; recorded in its run
    folder's disentanglement.json (``zoo.runs.record_scores``) where it has one. Returns
    ``(scores, the file recorded in or None)``."""
    run = source.settings
    sizes = sizes_for(points)
    scores = disentanglement(source.model, run["dataset"], metrics, seed=run["seed"],
                             sizes=sizes, data_dir=source.data_dir)
    if source.folder is None or not pathlib.Path(source.folder).is_dir():
        return scores, None
    environment = provenance.environment()  # each metric's own, as metrics are added
    return scores, runs.record_scores(source.folder, {
        metric: {"scores": values, "seed": run["seed"], "sizes": settings(metric, sizes),
                 "environment": environment} for metric, values in scores.items()})


def generation_scores(source, n=10_000, network=None, record=False, kinds=None, verbose=1):
    """FID and precision/recall of ``n`` images per sampler (``zoo.generation``) of a saved
    model (a ``zoo.sources.Source``) against its dataset's test split; ``kinds``: the
    samplers (default prior and gmm), kept beside the model's file (``sampler_file``;
    reused while the file is the one they were fitted for). A run folder keeps the scores
    in ``generation.json``; with ``record``, a leaderboard row's in its result file.
    Returns ``(result, the file recorded in or None)``."""
    from zoo.generation import SAMPLERS, generation

    kinds = tuple(kinds or SAMPLERS)
    run = source.settings
    check_generation(source, network, kinds)
    spec = _spec(source)
    result = generation(source.model, spec, kinds, n=n, seed=run["seed"], network=network,
                        fitted=fitted_samplers(source, kinds, verbose),
                        manual_dir=source.manual_dir, data_dir=source.data_dir,
                        verbose=verbose)
    del result["fitted"]
    if record:
        return result, results.record_generation(source.row, result)
    weights = _weights(source)
    if not weights or source.folder is None:
        return result, None
    return result, runs.record_generation(
        source.folder, f"{result['features']} on {spec.name}",
        {**result, "model_weights": weights, "environment": provenance.environment()})


def fitted_samplers(source, kinds, verbose=0):
    """The samplers ``kinds`` (``zoo.samplers``) of a saved model (a ``zoo.sources.Source``)
    on its run's training codes (``zoo.generation.fit_samplers``; read as the run did:
    binarization, image size, seed): the kept ones (``sampler_file``) where they were
    fitted for the model's file and these data; the others fitted now, and kept where
    the model has a file (and its folder can be written)."""
    from zoo.generation import fit_samplers

    run, weights = source.settings, _weights(source)
    fitted_for = json.loads(json.dumps({  # (as a kept file's JSON gives them back)
        "model_weights": weights, "dataset": run["dataset"],
        "image_size": run.get("image_size"), "binarization": run["binarization"],
        "seed": run["seed"], "sampler_version": samplers.VERSION}))
    paths = {kind: sampler_file(source, kind) if weights and kind != "prior" else None
             for kind in kinds}
    found = {}
    for kind, path in paths.items():
        if path and path.is_file():
            held = samplers.load(path)
            if all(held.fitted.get(key) == value for key, value in fitted_for.items()):
                found[kind] = held
    missing = [kind for kind in kinds if kind not in found]
    fitted = fit_samplers(source.model, _spec(source), missing, run["seed"],
                          run["binarization"], source.manual_dir, source.data_dir, verbose)
    for kind, sampler in fitted.items():
        if paths[kind]:
            sampler.fitted.update(fitted_for)
            try:
                paths[kind].parent.mkdir(exist_ok=True)
                samplers.save(sampler, paths[kind])
            except OSError:  # a folder this user cannot write: fitted again next time
                pass
    return {kind: found[kind] if kind in found else fitted[kind] for kind in kinds}


def sampler_file(source, kind):
    """Where the sampler ``kind`` of a saved model is kept: ``samplers/KIND.npz`` in its run
    or ``zoo.save`` folder; ``FILE.samplers/KIND.npz`` beside a .keras or weights file
    ``FILE`` (``model.keras.samplers/gmm.npz``; a leaderboard row's included); None for a
    model without a file."""
    if source.folder is not None:
        return source.folder / runs.SAMPLERS / f"{kind}.npz"
    if source.file is not None:
        return source.file.with_name(f"{source.file.name}.{runs.SAMPLERS}") / f"{kind}.npz"
    return None


def _spec(source):
    run = source.settings
    return datasets.spec(run["dataset"], run.get("image_size"), source.manual_dir,
                         source.data_dir)


def _weights(source):
    """The SHA-256 of a saved model's file (a run or zoo.save folder's model.h5, a .keras
    or weights file; None: none)."""
    if source.folder is not None:
        path = source.folder / runs.WEIGHTS
    else:
        path = source.file
    return files.sha256(path) if path is not None and path.is_file() else None


def check_generation(source, network=None, kinds=None):
    """A one-line ConfigError where ``zoo eval --generation`` cannot score ``source``: an
    unknown sampler, no such feature network (default: the run's dataset's classifier; a
    conditional model needs that classifier whatever the features)."""
    from zoo import features

    for kind in kinds or ():
        samplers.check(kind)
    own = f"classifier:{datasets.short_name(source.settings['dataset'])}"
    features.check(network or own)
    if source.model.conditional:
        features.check(own)
