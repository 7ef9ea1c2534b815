"""What a model makes, measured: ``zoo.generation(model, dataset)`` draws ``n`` images per
sampler (``zoo.samplers``: by default the prior and a Gaussian mixture fitted on the codes
of the training split; a flow too where asked), takes features of them and of the test
split with one feature network (``zoo.features``), and scores each sampler's images by FID
and precision/recall (``zoo.sample_quality``).

The images compared are in the form the in-domain classifiers were trained on: where the
dataset has grey levels, the test split's levels in [0, 1] and the samples' decoder means
(a Bernoulli decoder's pixel probabilities; clipped to [0, 1], which a Gaussian's may
leave); where it has binary pixels alone (binarized_mnist, sprites), the test split's
pixels and pixels drawn from the decoder (``model.sample(mean=False)``).
"""

import time

import numpy as np

from zoo import data, datasets, features, sample_quality
from zoo.samplers import check as check_sampler, fit as fit_sampler

SAMPLERS = ("prior", "gmm")


def generation(model, dataset, samplers=SAMPLERS, n=10_000, seed=0, network=None,
               fitted=None, binarization=None, manual_dir=None, data_dir=None, verbose=1):
    """``{"features": name, "n": n, "seed": seed, "reference": {...}, "samplers": {kind:
    {"fid", "precision", "recall", "k", "seconds", ...}}}`` for ``model`` on ``dataset``
    (a name or DatasetSpec). ``network``: a ``zoo.features`` name (default
    ``classifier:DATASET``); ``fitted``: samplers already fitted, by kind (others are
    fitted on the training split's codes, read with ``binarization`` (None: as the model
    takes them: the dataset's default for a Bernoulli decoder, else its levels), and
    returned in ``result["fitted"]``, not in the JSON-ready part)."""
    for kind in samplers:  # a typo: before any work
        check_sampler(kind)
    spec = datasets.spec(dataset, manual_dir=manual_dir, data_dir=data_dir)
    if binarization is None and model.data_kind != "binary":
        binarization = _levels(spec)
    name, extract = features.network(network or f"classifier:{spec.name}")
    reference = _images(data.load(spec, "test", 500, binarization=_levels(spec),
                                  manual_dir=manual_dir, data_dir=data_dir))
    real = features.features_of(extract, reference)
    fitted = dict(fitted or {})
    result = {"features": name, "n": n, "seed": seed,
              "reference": {"dataset": spec.name, "split": "test", "examples": len(real),
                            "binarization": _levels(spec)},
              "samplers": {}}
    for kind in samplers:
        started = time.time()
        if kind not in fitted:  # (the prior is fitted on nothing)
            train = None if kind == "prior" else data.load(
                spec, "train", 500, binarization=binarization, shuffle=False,
                manual_dir=manual_dir, data_dir=data_dir)
            fitted[kind] = fit_sampler(kind, model, train, seed=seed)
        made = np.clip(np.concatenate([np.asarray(model.sample(
            min(500, n - start), seed=(seed, start), sampler=fitted[kind],
            mean=_levels(spec) == "none")) for start in range(0, n, 500)]), 0.0, 1.0)
        fake = features.features_of(extract, made)
        scores = {**sample_quality.frechet_distance(real, fake),
                  **sample_quality.precision_recall(real, fake)}
        scores["seconds"] = time.time() - started
        result["samplers"][kind] = scores
        if verbose:
            print(f"{kind}: FID {scores['fid']:.2f}, precision {scores['precision']:.3f}, "
                  f"recall {scores['recall']:.3f} ({name} features, {n} samples)")
    return {**result, "fitted": fitted}


def _levels(spec):
    """The test images' form: grey levels where the dataset has them, else its own."""
    return "none" if "none" in spec.binarizations else spec.binarizations[0]


def _images(batches):
    return np.concatenate([np.asarray(x) for x, _ in batches])
