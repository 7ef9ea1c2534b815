"""FID and precision/recall against quantities computed by hand."""

import numpy as np
import pytest

from zoo import sample_quality
from zoo.errors import ConfigError


def features(n=500, d=8, seed=0):
    return np.random.default_rng(seed).normal(size=(n, d)) @ np.diag(np.arange(1, d + 1))


def test_the_frechet_distance_of_a_set_to_itself_is_zero_and_to_a_moved_copy_its_closed_form():
    real = features()
    assert sample_quality.frechet_distance(real, real)["fid"] == pytest.approx(0, abs=1e-6)
    shift = np.linspace(-1, 1, real.shape[1])
    assert sample_quality.frechet_distance(real, real + shift)["fid"] == pytest.approx(
        np.sum(shift ** 2), rel=1e-6)  # same covariance: the means' distance alone
    scaled = 0.5 * real + shift  # C_f = C_r / 4, so (C_r C_f)^(1/2) = C_r / 2
    trace = np.trace(np.cov(real, rowvar=False))
    expected = np.sum((real.mean(0) - scaled.mean(0)) ** 2) + (1 - 0.5) ** 2 * trace
    found = sample_quality.frechet_distance(real, scaled)
    assert found["fid"] == pytest.approx(expected, rel=1e-6)
    assert found["regularised"] is False and found["imaginary_residue"] < 1e-3
    dead = np.concatenate([real, np.zeros([len(real), 1])], 1)  # a feature always 0
    found = sample_quality.frechet_distance(dead, dead + np.append(shift, 0.0))
    assert found["regularised"] is True
    assert found["fid"] == pytest.approx(np.sum(shift ** 2), rel=1e-4)
    with pytest.raises(ConfigError, match="take both from one feature network"):
        sample_quality.frechet_distance(real, real[:, :3])


def test_precision_and_recall_of_identical_disjoint_and_hand_made_sets():
    real = features(300, 4)
    assert sample_quality.precision_recall(real, real) == {"precision": 1.0, "recall": 1.0,
                                                           "k": 3}
    far = sample_quality.precision_recall(real, real + 1000.0)
    assert (far["precision"], far["recall"]) == (0.0, 0.0)
    # k = 1 by hand: real 0..4 have radius 1 each; fake 0.5 lies in the ball around 0, 10
    # in none (precision 1/2); fake's radii are 9.5 each, covering every real point
    line = np.arange(5.0)[:, None]
    assert sample_quality.precision_recall(line, np.array([[0.5], [10.0]]), k=1) == {
        "precision": 0.5, "recall": 1.0, "k": 1}
    with pytest.raises(ConfigError, match="2 fake points: precision and recall with k=3"):
        sample_quality.precision_recall(line, np.array([[0.5], [10.0]]))
    # the real radii computed once for several fake sets: the same scores
    np.testing.assert_array_equal(sample_quality.radii(line, 1), np.ones(5))
    np.testing.assert_array_equal(sample_quality.radii(line, 2), [2, 1, 1, 1, 2])
    fake = features(200, 4, seed=7)
    given = sample_quality.radii(real)
    assert sample_quality.precision_recall(real, fake, real_radii=given) == (
        sample_quality.precision_recall(real, fake))
    with pytest.raises(ConfigError, match="5 radii for 300 real points"):
        sample_quality.precision_recall(real, fake, real_radii=given[:5])
