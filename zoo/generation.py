"""What a model makes, measured: ``zoo.generation(model, dataset)`` draws ``n`` images per
sampler (``zoo.samplers``: by default the prior and a Gaussian mixture fitted on the codes
of training images; a flow or a second-stage VAE too where asked), takes features of them
and of the test split with one feature network (``zoo.features``), and scores each
sampler's images by FID and precision/recall (``zoo.sample_quality``).

The images compared are in the form the in-domain classifiers were trained on: where the
dataset has grey levels, the test split's levels in [0, 1] and the samples' decoder means
(a Bernoulli decoder's pixel probabilities; clipped to [0, 1], which a Gaussian's may
leave); where it has binary pixels alone (binarized_mnist, sprites), the test split's
pixels and pixels drawn from the decoder (``model.sample(mean=False)``).

Samplers other than the prior are fitted on the codes of the first ``SAMPLER_IMAGES``
training images (all of MNIST's and Fashion-MNIST's; a random subset of sprites' 717,280,
whose split is a slice of a random permutation). A conditional model makes each image for
a class: the i-th image for the i-th test image's label (the test labels repeated where
``n`` is larger), so the samples' classes are in the test split's proportions; its
samplers are fitted on the codes of (image, label) pairs, and its scores add
``class_agreement``: the share of images the dataset's classifier (``zoo.features``)
puts in the class they were made for.
"""

import time

import numpy as np
import tf_keras

from zoo import data, datasets, features, sample_quality
from zoo.samplers import check as check_sampler, codes_of, fit_codes

SAMPLERS = ("prior", "gmm")
SAMPLER_IMAGES = 50_000


def generation(model, dataset, samplers=SAMPLERS, n=10_000, seed=0, network=None,
               fitted=None, binarization=None, manual_dir=None, data_dir=None, verbose=1):
    """``{"features": name, "n": n, "seed": seed, "reference": {...}, "samplers": {kind:
    {"fid", "precision", "recall", "k", "seconds", ...}}, "fit_seconds"}`` for ``model`` on
    ``dataset``, a name or DatasetSpec (``seconds``: drawing and scoring a sampler's
    images; ``fit_seconds``: fitting the samplers not given, their codes encoded once, where
    any were fitted). ``network``: a ``zoo.features`` name (default
    ``classifier:DATASET``); ``fitted``: samplers already fitted, by kind or a name of
    the caller's (others are fitted on the training codes, ``fit_samplers``, and returned
    in ``result["fitted"]``, not in the JSON-ready part)."""
    for kind in samplers:  # a typo: before any work
        if kind not in (fitted or {}):
            check_sampler(kind)
    spec = datasets.spec(dataset, manual_dir=manual_dir, data_dir=data_dir)
    own = f"classifier:{spec.name}"
    labeller = features.classifier(own) if model.conditional else None
    if labeller is not None and network in (None, own):  # (its weights read once)
        name, extract = own, features.features_model(labeller)
    else:
        name, extract = features.network(network or own)
    reference, labels = _images(data.load(
        spec, "test", 500, binarization=_levels(spec), labels=model.conditional,
        manual_dir=manual_dir, data_dir=data_dir), model.conditional)
    real = features.features_of(extract, reference)
    real_radii = sample_quality.radii(real)  # the real manifold's: once for every sampler
    fitted = dict(fitted or {})
    result = {"features": name, "n": n, "seed": seed,
              "reference": {"dataset": spec.name, "split": "test", "examples": len(real),
                            "binarization": _levels(spec)},
              "samplers": {}}
    if model.conditional:
        result["labels"] = "the test split's, in order"
    missing = [kind for kind in samplers if kind not in fitted]
    if missing:
        started = time.time()
        fitted.update(fit_samplers(model, spec, missing, seed, binarization, manual_dir,
                                   data_dir, verbose))
        result["fit_seconds"] = time.time() - started
    for kind in samplers:
        started = time.time()
        wanted = None if labels is None else np.resize(labels, n)
        progress = tf_keras.utils.Progbar(n, verbose=verbose, unit_name="image")
        made = []
        for start in range(0, n, 500):  # a PixelCNN prior draws for minutes: a bar
            made.append(np.asarray(model.sample(
                min(500, n - start), seed=(seed, start), sampler=fitted[kind],
                labels=None if wanted is None else wanted[start:start + 500],
                mean=_levels(spec) == "none")))
            progress.add(len(made[-1]))
        made = np.clip(np.concatenate(made), 0.0, 1.0)
        fake = features.features_of(extract, made)
        scores = {**sample_quality.frechet_distance(real, fake),
                  **sample_quality.precision_recall(real, fake, real_radii=real_radii)}
        if labeller is not None:
            scores["class_agreement"] = float(np.mean(
                features.classes_of(labeller, made) == wanted))
        scores["seconds"] = time.time() - started
        result["samplers"][kind] = scores
        if verbose:
            agreement = ("" if labeller is None else
                         f", class agreement {scores['class_agreement']:.3f}")
            print(f"{kind}: FID {scores['fid']:.2f}, precision {scores['precision']:.3f}, "
                  f"recall {scores['recall']:.3f}{agreement} ({name} features, {n} samples)")
    return {**result, "fitted": fitted}


def fit_samplers(model, dataset, kinds, seed=0, binarization=None, manual_dir=None,
                 data_dir=None, verbose=0):
    """``{kind: sampler}``: the samplers ``kinds`` of ``model`` (``zoo.samplers``) fitted
    on the codes of the first SAMPLER_IMAGES training images of ``dataset`` (a
    DatasetSpec; encoded once for all), read with ``binarization`` (None: as the model
    takes them: the dataset's default for a Bernoulli decoder, else its levels), with
    their labels for a conditional model. ``verbose``: a line before the fitting, which
    sklearn does without a word (minutes for a mixture of large codes)."""
    if binarization is None and model.data_kind != "binary":
        binarization = _levels(dataset)
    codes = None
    if set(kinds) - {"prior"}:  # (the prior is fitted on nothing)
        first = min(data.examples_in(dataset, "train", manual_dir, data_dir),
                    SAMPLER_IMAGES)
        if verbose:
            print(f"fitting the {', '.join(kind for kind in kinds if kind != 'prior')} "
                  f"sampler on the codes of {first} training images")
        codes = codes_of(model, data.load(
            dataset, "train", 500, binarization=binarization, shuffle=False,
            labels=model.conditional, first=first, manual_dir=manual_dir,
            data_dir=data_dir))
    return {kind: fit_codes(kind, model, codes, seed) for kind in kinds}


def _levels(spec):
    """The test images' form: grey levels where the dataset has them, else its own."""
    return "none" if "none" in spec.binarizations else spec.binarizations[0]


def _images(batches, labelled):
    """``(images, labels)`` of ``(x, y)`` batches (labels: None unless ``labelled``)."""
    images, labels = zip(*((np.asarray(x), np.asarray(y)) for x, y in batches), strict=True)
    return np.concatenate(images), (np.concatenate(labels) if labelled else None)
