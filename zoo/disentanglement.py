"""Disentanglement metrics: how well a representation's dimensions line up with the known
factors of a dataset (``zoo.sprites``), as disentanglement_lib (Locatello et al. 2019)
defines them, written anew for NumPy and scikit-learn.

Every metric reads a representation through ``codes_of(factors) -> (n, d) codes``, the
representation of one observation drawn for each row of factor indices (for a model: its
encoder's mean, ``disentanglement``), and draws factors with its own
``np.random.RandomState(seed)``: a metric's score does not depend on which other metrics
run. Each returns a dict of scores in [0, 1] (higher is better).

- ``beta_vae`` (Higgins et al. 2017): a point fixes one factor k at random across
  ``batch_size`` pairs of observations whose other factors are drawn independently; its
  feature is the mean absolute difference of the pairs' codes; a logistic regression
  (scikit-learn defaults) predicts k. ``train_accuracy`` on ``num_train`` points,
  ``eval_accuracy`` on ``num_eval``.
- ``factor_vae`` (Kim & Mnih 2018): the codes' variances over ``num_variance_estimate``
  observations; dimensions whose standard deviation is below ``prune`` (0.05) are dropped.
  A point fixes factor k over ``batch_size`` observations and votes (k, the kept dimension
  of least variance relative to its global variance); each dimension is assigned the
  factor it gets most votes for on ``num_train`` points; accuracy of those assignments on
  the training and on ``num_eval`` new votes. No dimension kept: 0.
- ``mig`` (Chen et al. 2018): codes of ``num_train`` observations, each dimension cut into
  20 equal-width bins over its range; for each factor the gap between the two largest
  mutual informations with a dimension, over the factor's entropy; the mean over factors.
- ``dci`` (Eastwood & Williams 2018): for each factor a gradient-boosted tree classifier
  (scikit-learn defaults) on ``num_train`` codes; the importance matrix (dimensions x
  factors) gives ``disentanglement`` (1 - the entropy of each dimension's importances over
  the factors, base the number of factors, weighted by the dimension's share of all
  importance) and ``completeness`` (1 - the entropy of each factor's importances over the
  dimensions, weighted alike); ``informativeness_train`` / ``informativeness_test``: the
  classifiers' mean accuracy on the training and ``num_test`` new points.
- ``sap`` (Kumar et al. 2018): for each dimension and factor a linear SVM (C = 0.01, balanced
  classes) predicts the factor from that one dimension; the accuracy on ``num_test`` new
  points; per factor the gap between the two best dimensions, averaged. Its discrete form,
  which disentanglement_lib's study used: a one-vs-rest linear classifier on one number
  cannot pick out the middle values of a factor, so even the factors themselves score well
  below 1 (0.34 in tests/test_disentanglement.py), and its penalty makes it depend on
  each dimension's scale. disentanglement_lib's own sanity test, which scores the factors
  near 1, runs the continuous form (a regression's R² from each dimension) instead; the
  zoo has only the discrete form its study reported.
- ``modularity`` (Ridgeway & Mozer 2018): mutual information as for MIG; a dimension's
  modularity is 1 - the squared mutual information outside its best factor, over
  (factors - 1) times the best one squared (0 for a dimension with none); the mean.
  ``explicitness_train`` / ``explicitness_test``: per factor the macro one-vs-rest ROC AUC
  of a logistic regression from the standardised codes, averaged.

Where the zoo departs from disentanglement_lib's code, or follows a quirk of it:

- factor_vae's vote indexes the *kept* dimensions (disentanglement_lib's too): the
  assignment is learned and scored in that same indexing, so the score is unchanged.
- dci's trees are seeded from the metric's RandomState (disentanglement_lib leaves them
  unseeded, so its importances may vary from run to run where features tie).
- Every metric draws from its own RandomState(seed); disentanglement_lib passes one
  RandomState through a study's metrics, so its draws depend on their order. Its images
  differ as well (zoo.sprites draws its own), so scores match its in meaning, not digits.
- explicitness standardises each dimension by its training mean and standard deviation;
  a constant dimension (standard deviation 0) is divided by 1, not 0 (disentanglement_lib
  divides by 0: NaN codes, and scikit-learn refuses them).
- A factor with one value only among a metric's training points (possible with a tiny
  ``num_train``; disentanglement_lib raises or divides by 0) counts as unpredictable:
  mig scores it 0 (its entropy is 0), dci predicts its one value and gives it no
  importance, sap gives every dimension accuracy 0 on it (gap 0), explicitness an AUC of
  0.5; beta_vae with one fixed factor only scores chance, 1 / factors.
- A representation of one dimension: mig's and sap's gap is to a second dimension that
  carries nothing (disentanglement_lib fails to index the second).
"""

import dataclasses
import sys
import time
import warnings

import numpy as np

from zoo import sprites
from zoo.errors import ConfigError, DataError, did_you_mean, require_int

# disentanglement_lib's sizes (its gin configs of the 2019 study)
SIZES = {
    "beta_vae": {"batch_size": 64, "num_train": 10_000, "num_eval": 5_000},
    "factor_vae": {"batch_size": 64, "num_train": 10_000, "num_eval": 5_000,
                   "num_variance_estimate": 10_000, "prune": 0.05},
    "mig": {"num_train": 10_000, "bins": 20},
    "dci": {"num_train": 10_000, "num_test": 5_000},
    "sap": {"num_train": 10_000, "num_test": 5_000, "C": 0.01},
    "modularity": {"num_train": 10_000, "num_test": 5_000, "bins": 20},
}


@dataclasses.dataclass
class Factors:
    """What a metric reads: ``sizes``, the number of values of each factor, and
    ``codes_of(factors) -> (n, d)`` codes of observations with those factor indices."""

    sizes: tuple
    codes_of: object

    def sample(self, count, random_state):
        """``count`` factor index vectors, each factor uniform and independent."""
        return np.stack([random_state.randint(size, size=count) for size in self.sizes], 1)

    def points(self, count, random_state):
        """``count`` (codes, factors) pairs: (count, d) and (count, factors)."""
        factors = self.sample(count, random_state)
        return np.asarray(self.codes_of(factors), np.float64), factors


def beta_vae(data, random_state, batch_size, num_train, num_eval):
    from sklearn.linear_model import LogisticRegression

    def features(count):
        fixed = random_state.randint(len(data.sizes), size=count)
        first, second = data.sample(count * batch_size, random_state), \
            data.sample(count * batch_size, random_state)
        rows = np.repeat(fixed, batch_size)
        second[np.arange(len(rows)), rows] = first[np.arange(len(rows)), rows]
        difference = np.abs(np.asarray(data.codes_of(first), np.float64)
                            - np.asarray(data.codes_of(second), np.float64))
        return difference.reshape(count, batch_size, -1).mean(1), fixed

    x_train, y_train = features(num_train)
    x_eval, y_eval = features(num_eval)
    if len(np.unique(y_train)) < 2:
        return {"train_accuracy": 1 / len(data.sizes), "eval_accuracy": 1 / len(data.sizes)}
    classifier = LogisticRegression(random_state=random_state).fit(x_train, y_train)
    return {"train_accuracy": float(classifier.score(x_train, y_train)),
            "eval_accuracy": float(classifier.score(x_eval, y_eval))}


def factor_vae(data, random_state, batch_size, num_train, num_eval, num_variance_estimate,
               prune):
    codes, _ = data.points(num_variance_estimate, random_state)
    variances = np.var(codes, axis=0, ddof=1)
    kept = np.sqrt(variances) >= prune
    if not kept.any():
        return {"train_accuracy": 0.0, "eval_accuracy": 0.0}

    def votes(count):
        tally = np.zeros([len(data.sizes), int(kept.sum())], np.int64)
        fixed = random_state.randint(len(data.sizes), size=count)
        factors = data.sample(count * batch_size, random_state).reshape(count, batch_size, -1)
        factors[np.arange(count), :, fixed] = factors[np.arange(count), 0, fixed][:, None]
        codes = np.asarray(data.codes_of(factors.reshape(count * batch_size, -1)), np.float64)
        local = np.var(codes.reshape(count, batch_size, -1)[:, :, kept], axis=1, ddof=1)
        np.add.at(tally, (fixed, np.argmin(local / variances[kept], axis=1)), 1)
        return tally

    training, evaluation = votes(num_train), votes(num_eval)
    assigned = np.argmax(training, axis=0)  # each kept dimension's factor
    dimensions = np.arange(training.shape[1])
    return {"train_accuracy": float(training[assigned, dimensions].sum() / training.sum()),
            "eval_accuracy": float(evaluation[assigned, dimensions].sum() / evaluation.sum())}


def _discretized(codes, bins):
    """Each dimension of ``codes`` (n, d) cut into ``bins`` equal-width bins over its range."""
    return np.stack([np.digitize(column, np.histogram(column, bins)[1][:-1])
                     for column in codes.T], 1)


def _mutual_information(discrete_codes, factors):
    """(d, factors) mutual information in nats between each dimension and each factor."""
    from sklearn.metrics import mutual_info_score
    return np.array([[mutual_info_score(factor, code) for factor in factors.T]
                     for code in discrete_codes.T])


def mig(data, random_state, num_train, bins):
    from sklearn.metrics import mutual_info_score
    codes, factors = data.points(num_train, random_state)
    information = _mutual_information(_discretized(codes, bins), factors)
    entropy = np.array([mutual_info_score(factor, factor) for factor in factors.T])
    gaps = _gaps(information)
    with np.errstate(divide="ignore", invalid="ignore"):
        return {"score": float(np.mean(np.where(entropy > 0, gaps / entropy, 0.0)))}


def _gaps(values):
    """Per column of ``values`` (dimensions, factors): the largest minus the second largest
    (minus 0 for one dimension)."""
    top = np.sort(np.concatenate([values, np.zeros([max(0, 2 - len(values)),
                                                    values.shape[1]])]), axis=0)
    return top[-1] - top[-2]


def _entropy(p, base, axis):
    """Entropy of the distributions ``p`` normalises along ``axis``, in base ``base``."""
    from scipy.stats import entropy
    return entropy(p + 1e-11, base=base, axis=axis)


def dci(data, random_state, num_train, num_test):
    from sklearn.ensemble import GradientBoostingClassifier
    x_train, y_train = data.points(num_train, random_state)
    x_test, y_test = data.points(num_test, random_state)
    dimensions, factors = x_train.shape[1], y_train.shape[1]
    importance = np.zeros([dimensions, factors])
    train_accuracy, test_accuracy = [], []
    for factor in range(factors):
        if len(np.unique(y_train[:, factor])) < 2:
            train_accuracy.append(1.0)
            test_accuracy.append(float(np.mean(y_test[:, factor] == y_train[0, factor])))
            continue
        model = GradientBoostingClassifier(random_state=random_state).fit(
            x_train, y_train[:, factor])
        importance[:, factor] = np.abs(model.feature_importances_)
        train_accuracy.append(model.score(x_train, y_train[:, factor]))
        test_accuracy.append(model.score(x_test, y_test[:, factor]))
    total = importance.sum()
    per_dimension = 1 - _entropy(importance.T, factors, axis=0) if factors > 1 else \
        np.ones(dimensions)
    per_factor = 1 - _entropy(importance, dimensions, axis=0) if dimensions > 1 else \
        np.ones(factors)
    dimension_weight = importance.sum(1) / total if total else np.ones(dimensions) / dimensions
    factor_weight = importance.sum(0) / total if total else np.ones(factors) / factors
    return {"disentanglement": float(per_dimension @ dimension_weight),
            "completeness": float(per_factor @ factor_weight),
            "informativeness_train": float(np.mean(train_accuracy)),
            "informativeness_test": float(np.mean(test_accuracy))}


def sap(data, random_state, num_train, num_test, C):
    from sklearn.svm import LinearSVC
    x_train, y_train = data.points(num_train, random_state)
    x_test, y_test = data.points(num_test, random_state)
    accuracy = np.zeros([x_train.shape[1], y_train.shape[1]])
    for dimension in range(x_train.shape[1]):
        for factor in range(y_train.shape[1]):
            if len(np.unique(y_train[:, factor])) < 2:
                continue  # one class: no dimension predicts more than another
            classifier = LinearSVC(C=C, class_weight="balanced").fit(
                x_train[:, [dimension]], y_train[:, factor])
            accuracy[dimension, factor] = classifier.score(x_test[:, [dimension]],
                                                           y_test[:, factor])
    return {"score": float(np.mean(_gaps(accuracy)))}


def modularity(data, random_state, num_train, num_test, bins):
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    x_train, y_train = data.points(num_train, random_state)
    x_test, y_test = data.points(num_test, random_state)
    squared = _mutual_information(_discretized(x_train, bins), y_train) ** 2
    best = squared.max(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = (squared.sum(1) - best) / (best * (squared.shape[1] - 1))
    per_dimension = np.where(best > 0, 1 - deviation, 0.0)
    mean, std = x_train.mean(0), x_train.std(0)
    std[std == 0] = 1
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    explicitness = {"train": [], "test": []}
    for factor in range(y_train.shape[1]):
        classes = np.unique(y_train[:, factor])
        if len(classes) < 2:
            explicitness["train"].append(0.5)
            explicitness["test"].append(0.5)
            continue
        classifier = LogisticRegression().fit(x_train, y_train[:, factor])
        for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
            explicitness[split].append(_macro_auc(classifier, x, y[:, factor], roc_auc_score))
    return {"score": float(per_dimension.mean()),
            "explicitness_train": float(np.mean(explicitness["train"])),
            "explicitness_test": float(np.mean(explicitness["test"]))}


def _macro_auc(classifier, x, y, roc_auc_score):
    """One-vs-rest ROC AUC averaged over the classes present in ``y`` and known to the
    classifier (disentanglement_lib: scikit-learn's macro average over a binarised ``y``)."""
    probabilities = classifier.predict_proba(x)
    scores = [roc_auc_score(y == label, probabilities[:, column])
              for column, label in enumerate(classifier.classes_)
              if 0 < np.sum(y == label) < len(y)]
    return float(np.mean(scores)) if scores else 0.5


METRICS = {"beta_vae": beta_vae, "factor_vae": factor_vae, "mig": mig, "dci": dci,
           "sap": sap, "modularity": modularity}


def scores(data, metrics=None, seed=0, sizes=None, verbose=0):
    """``{metric: {score name: value}}`` for ``metrics`` (default all six) of the
    representation ``data`` (a ``Factors``), each metric from ``RandomState(seed)`` at
    disentanglement_lib's sizes (``SIZES``) or those ``sizes`` gives per metric; with
    ``verbose``, a line on stderr as each metric starts and ends."""
    from sklearn.exceptions import ConvergenceWarning
    results = {}
    chosen = _chosen(metrics)
    _check_sizes(sizes)
    for number, name in enumerate(chosen, 1):
        if verbose:
            print(f"metric {number}/{len(chosen)}: {name}...", end="", file=sys.stderr,
                  flush=True)
        started = time.perf_counter()
        with warnings.catch_warnings():  # scikit-learn's defaults, as disentanglement_lib
            warnings.simplefilter("ignore", ConvergenceWarning)  # ran them
            results[name] = METRICS[name](data, np.random.RandomState(seed),
                                          **settings(name, sizes))
        if verbose:
            print(f" {time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    return results


def _chosen(metrics):
    chosen = list(METRICS) if metrics is None else list(metrics)
    for name in chosen:
        if name not in METRICS:
            raise ConfigError(f"unknown disentanglement metric '{name}'; "
                              f"{did_you_mean(name, METRICS)}the zoo computes: "
                              f"{', '.join(METRICS)}")
    return chosen


def _check_sizes(sizes):
    """A ConfigError for a metric name in ``sizes`` that the zoo does not compute."""
    for name in sizes or {}:
        if name not in METRICS:
            raise ConfigError(f"sizes are given for an unknown metric '{name}'; "
                              f"{did_you_mean(name, METRICS)}the zoo computes: "
                              f"{', '.join(METRICS)}")
        settings(name, sizes)


def settings(name, sizes):
    """The sizes metric ``name`` runs at: disentanglement_lib's, with ``sizes[name]``'s."""
    given = (sizes or {}).get(name, {})
    for key in given:
        if key not in SIZES[name]:
            raise ConfigError(f"the {name} metric has no setting '{key}'; "
                              f"{did_you_mean(key, SIZES[name])}it takes: "
                              f"{', '.join(SIZES[name])}")
    return {**SIZES[name], **given}


def _observations_needed(metrics, sizes):
    """How many observations the metrics encode, drawn one by one."""
    count = 0
    for name in _chosen(metrics):
        size = settings(name, sizes)
        if name == "beta_vae":
            count += 2 * size["batch_size"] * (size["num_train"] + size["num_eval"])
        elif name == "factor_vae":
            count += (size["num_variance_estimate"]
                      + size["batch_size"] * (size["num_train"] + size["num_eval"]))
        else:
            count += size["num_train"] + size.get("num_test", 0)
    return count


FACTOR_DATASETS = {"sprites": sprites}


def sizes_for(points):
    """Every metric's sizes with ``points`` training points and half as many evaluation
    points (disentanglement_lib: 10,000 and 5,000; factor_vae's variance estimate: ``points``
    too); None: disentanglement_lib's."""
    if points is None:
        return None
    require_int("points", points)
    scaled = {"num_train": points, "num_eval": max(1, points // 2),
              "num_test": max(1, points // 2), "num_variance_estimate": points}
    return {name: {key: scaled[key] for key in size if key in scaled}
            for name, size in SIZES.items()}


def check(dataset, metrics=None):
    """The factor source of ``dataset``, or a one-line DataError (and ConfigError for an
    unknown metric)."""
    _chosen(metrics)
    if dataset not in FACTOR_DATASETS:
        raise DataError(f"{dataset} has no known factors to measure disentanglement on; "
                        f"use {', '.join(FACTOR_DATASETS)}")
    return FACTOR_DATASETS[dataset]


def table(scores):
    """The scores as lines of text, one per metric."""
    return [f"{metric:>10}: " + ", ".join(f"{name} {value:.3f}" for name, value in values.items())
            for metric, values in scores.items()]


def disentanglement(model, dataset="sprites", metrics=None, seed=0, points=None, sizes=None,
                    batch_size=500, data_dir=None, verbose=1):
    """The disentanglement metrics (default all six) of ``model``'s encoder mean on
    ``dataset``'s known factors: ``{metric: {score: value}}`` (see the module's docstring),
    each metric drawing from ``RandomState(seed)``, at disentanglement_lib's sizes
    (``SIZES``), or with ``points`` training points and half as many evaluation points
    (``sizes_for``), or as ``sizes={metric: {setting: value}}`` sets them.

    Where the metrics would encode at least as many observations as the dataset holds
    (disentanglement_lib's sizes: about 2.9 million), every image is encoded once
    (737,280 for sprites, with a progress bar) and the metrics look codes up: the same
    codes as encoding each draw, a quarter of the work. Otherwise the drawn images are
    rendered and encoded as the metrics ask for them."""
    from zoo import datasets
    source = check(dataset, metrics)
    _check_sizes(sizes)
    if points is not None:
        scaled = sizes_for(points)
        sizes = {name: {**scaled[name], **(sizes or {}).get(name, {})} for name in SIZES}
    shape = (source.WIDTH, source.WIDTH, 1)
    if tuple(model.image_shape) != shape:
        raise DataError(f"this model takes {'x'.join(map(str, model.image_shape))} images, "
                        f"{dataset} has {'x'.join(map(str, shape))}; train one on {dataset} "
                        "(zoo train MODEL --dataset sprites)")
    if model.conditional:
        raise DataError("a conditional model's codes depend on its labels; disentanglement "
                        "metrics read an unconditional encoder")
    encode = _encoder(model, batch_size)
    if _observations_needed(metrics, sizes) >= source.EXAMPLES:
        everything = source.images(data_dir, verbose=verbose, lock=datasets.one_process_at_a_time)
        table = _all_codes(encode, everything, batch_size, verbose)

        def codes_of(factors):
            return table[source.indices_of(factors)]
    else:
        def codes_of(factors):
            return encode(source.render(factors)[..., None])
    return scores(Factors(source.FACTOR_SIZES, codes_of), metrics, seed, sizes, verbose)


def _encoder(model, batch_size):
    """``encode(images) -> codes``: the posterior layer's tensor (its mean), ``batch_size``
    images at a time, as NumPy."""
    import tensorflow as tf

    @tf.function(input_signature=[tf.TensorSpec([None, *model.image_shape], tf.float32)])
    def mean(images):
        return tf.convert_to_tensor(model.encoder(images))

    def encode(images):  # float32 a batch at a time, not every image at 4 bytes a pixel
        return np.concatenate([mean(np.asarray(images[start:start + batch_size],
                                               np.float32)).numpy()
                               for start in range(0, len(images), batch_size)] or
                              [np.zeros([0, model.latent_dim], np.float32)])
    return encode


def _all_codes(encode, bits, batch_size, verbose):
    """The codes of every image of packed ``bits``, in order, with a progress bar."""
    import tf_keras
    block = batch_size * 20
    progress = tf_keras.utils.Progbar(len(bits), verbose=verbose, unit_name="image")
    codes = []
    for start in range(0, len(bits), block):
        codes.append(encode(sprites.unpacked(np.asarray(bits[start:start + block]))[..., None]))
        progress.add(len(codes[-1]))
    return np.concatenate(codes)
