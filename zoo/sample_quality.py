"""How close a model's samples are to the data, measured on features of both: the Fréchet
distance (FID, Heusel et al. 2017) and precision and recall (Kynkäänniemi et al. 2019).

Both take two sets of feature vectors, ``real`` (n, d) and ``fake`` (m, d), from one
feature network (the numbers of two networks are not comparable).

**Fréchet distance** between the Gaussians fitted to each set (means mu, covariances C,
in float64):

    FD = |mu_r - mu_f|^2 + tr(C_r + C_f - 2 (C_r C_f)^(1/2))

The matrix square root is SciPy's ``sqrtm``; rounding can leave it a small imaginary part,
dropped where it is below ``IMAGINARY_TOLERANCE`` of its diagonal (as TTUR and pytorch-fid
do) and refused above it; a singular product (SciPy warns; features that are always 0, as
dead ReLU units are, make one) is regularised with ``EPSILON`` on the diagonals (as
pytorch-fid does where the root is not finite), which the result then says.

**Precision and recall** with k-nearest-neighbour balls: each set's manifold is the union
of balls around its points, each of radius the distance to the point's k-th nearest
neighbour in its own set (k = 3, the paper's). Precision: the share of fake points inside
the real manifold; recall: the share of real points inside the fake manifold. Distances are
Euclidean, computed in blocks (``BLOCK`` rows at once) so that 10,000 x 10,000 sets fit in
memory.
"""

import warnings

import numpy as np
import scipy.linalg

from zoo.errors import ConfigError

IMAGINARY_TOLERANCE = 1e-3  # TTUR's and pytorch-fid's
EPSILON = 1e-6  # added to the covariances' diagonals where their product is singular
NEIGHBOURS = 3  # Kynkäänniemi et al.'s k
BLOCK = 2048


def frechet_distance(real, fake):
    """``{"fid": FD, "regularised": bool, "imaginary_residue": r}`` between the Gaussians of
    the feature sets ``real`` and ``fake`` (see the module docstring); ``r`` is the
    largest imaginary part of the square root's diagonal that was dropped."""
    real, fake = _features(real, "real"), _features(fake, "fake")
    if real.shape[1] != fake.shape[1]:
        raise ConfigError(f"real features have {real.shape[1]} dimensions and fake ones "
                          f"{fake.shape[1]}; take both from one feature network")
    mu_r, mu_f = real.mean(0), fake.mean(0)
    cov_r, cov_f = np.atleast_2d(np.cov(real, rowvar=False)), np.atleast_2d(
        np.cov(fake, rowvar=False))
    with warnings.catch_warnings(record=True) as caught:  # SciPy: "Matrix is singular"
        warnings.simplefilter("always", scipy.linalg.LinAlgWarning)
        root, regularised = scipy.linalg.sqrtm(cov_r @ cov_f), False
    singular = any("singular" in str(warning.message) for warning in caught)
    if singular or not np.isfinite(root).all():  # (dead ReLU features: a singular product)
        offset = np.eye(len(cov_r)) * EPSILON
        root, regularised = scipy.linalg.sqrtm((cov_r + offset) @ (cov_f + offset)), True
    residue = 0.0
    if np.iscomplexobj(root):
        residue = float(np.max(np.abs(np.diagonal(root).imag)))
        if residue > IMAGINARY_TOLERANCE:
            raise ArithmeticError(f"the covariances' square root has an imaginary part of "
                                  f"{residue:.3g} on its diagonal (more than "
                                  f"{IMAGINARY_TOLERANCE}): too few samples for "
                                  f"{real.shape[1]} feature dimensions?")
        root = root.real
    distance = (np.sum((mu_r - mu_f) ** 2) + np.trace(cov_r) + np.trace(cov_f)
                - 2 * np.trace(root))
    return {"fid": float(distance), "regularised": regularised, "imaginary_residue": residue}


def precision_recall(real, fake, k=NEIGHBOURS, real_radii=None):
    """``{"precision": p, "recall": r, "k": k}`` of the feature sets ``real`` and ``fake``
    (see the module docstring). ``real_radii``: ``radii(real, k)`` where the caller scores
    several fake sets against one real one (each sampler's, say): computed once."""
    real, fake = _features(real, "real"), _features(fake, "fake")
    for name, points in (("real", real), ("fake", fake)):
        if len(points) <= k:
            raise ConfigError(f"{len(points)} {name} points: precision and recall with k={k} "
                              f"need more than {k}")
    if real_radii is None:
        real_radii = radii(real, k)
    elif len(real_radii) != len(real):
        raise ConfigError(f"{len(real_radii)} radii for {len(real)} real points: take them "
                          "from radii(real, k) of these points")
    return {"precision": _inside(fake, real, real_radii),
            "recall": _inside(real, fake, radii(fake, k)), "k": k}


def _features(points, name):
    points = np.asarray(points, np.float64)
    if points.ndim != 2 or len(points) < 2:
        raise ConfigError(f"{name} features must be (points, dimensions) with at least 2 "
                          f"points, got shape {points.shape}")
    return points


def _distances(a, b):
    """Euclidean distances (len(a), len(b)), float64."""
    squared = (np.sum(a ** 2, 1)[:, None] - 2 * a @ b.T + np.sum(b ** 2, 1)[None, :])
    return np.sqrt(np.maximum(squared, 0.0))


def radii(points, k=NEIGHBOURS):
    """Each point's distance to its k-th nearest other point of ``points``: the radii of
    the balls whose union is their manifold."""
    points = _features(points, "the")
    kth = np.empty(len(points))
    for start in range(0, len(points), BLOCK):
        block = _distances(points[start:start + BLOCK], points)
        kth[start:start + BLOCK] = np.partition(block, k, axis=1)[:, k]  # [:, 0]: itself
    return kth


def _inside(points, centres, radii):
    """The share of ``points`` within ``radii`` of at least one of ``centres``."""
    inside = 0
    for start in range(0, len(points), BLOCK):
        block = _distances(points[start:start + BLOCK], centres)
        inside += int(np.sum(np.any(block <= radii[None, :], axis=1)))
    return inside / len(points)
