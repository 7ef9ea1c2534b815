"""The disentanglement metrics (zoo.disentanglement) on representations whose answer is
known: the factors themselves, the same permuted and rescaled, noise, a constant, the
factors beside noise dimensions; and on a model's encoder over zoo.sprites."""

import hashlib
import json

import numpy as np
import pytest
import tf_keras

import zoo
from zoo import sprites
from zoo.disentanglement import METRICS, Factors, scores
from zoo.errors import ConfigError, DataError

# Five factors like sprites', each of at most 20 values (MIG's and modularity's 20 bins
# then keep every value apart), at sizes that take seconds.
FACTOR_SIZES = (3, 6, 10, 8, 8)
SMALL = {"beta_vae": {"num_train": 500, "num_eval": 300},
         "factor_vae": {"num_train": 500, "num_eval": 300, "num_variance_estimate": 2000},
         "mig": {"num_train": 3000},
         "dci": {"num_train": 400, "num_test": 300},
         "sap": {"num_train": 1000, "num_test": 500},
         "modularity": {"num_train": 2000, "num_test": 1000}}
PERMUTATION, SCALES = [2, 0, 4, 1, 3], np.array([3, -0.5, 2, 7, 0.1])
# sha256 of every 997th sprite (740 images) as this Pillow (13.0) draws them
PINNED = "7967e447fd24a5f34fddaf0364e1fb5f57203ae5067d8dea75ef6205759ff0d0"


def scored(codes_of, metrics=None):
    data = Factors(FACTOR_SIZES, codes_of)
    return scores(data, metrics, seed=0, sizes=SMALL)


def truth(factors):
    return factors.astype(np.float64)


@pytest.fixture(scope="module")
def of_truth():
    return scored(truth)


def test_the_factors_themselves_score_near_1(of_truth):
    for metric, values in of_truth.items():
        for name, value in values.items():
            if metric == "sap":  # its discrete form: one number, a linear one-vs-rest
                assert 0.3 < value < 0.4, (metric, name, value)  # classifier (the docstring)
            else:
                assert value > 0.98, (metric, name, value)


def test_a_permutation_keeps_every_score_and_a_rescaling_all_but_sap(of_truth):
    permuted = scored(lambda factors: truth(factors)[:, PERMUTATION], ["sap", "mig"])
    assert permuted["sap"]["score"] == pytest.approx(of_truth["sap"]["score"], abs=0.02)
    assert permuted["mig"] == pytest.approx(of_truth["mig"], abs=1e-9)
    rescaled = scored(lambda factors: (truth(factors) * SCALES)[:, PERMUTATION])
    for metric in METRICS:
        if metric != "sap":  # its penalty (C = 0.01) weighs a dimension by its scale
            assert rescaled[metric] == pytest.approx(of_truth[metric], abs=0.02), metric


def test_noise_and_a_constant_score_near_chance_or_0():
    noise = np.random.RandomState(5)
    scores = {"noise": scored(lambda factors: noise.normal(size=(len(factors), 5))),
              "constant": scored(lambda factors: np.zeros((len(factors), 5)))}
    for kind, values in scores.items():
        for metric in ("beta_vae", "factor_vae"):  # 5 factors: chance is 0.2
            assert values[metric]["eval_accuracy"] < 0.3, (kind, metric)
        assert values["mig"]["score"] < 0.02 and values["sap"]["score"] < 0.02, kind
        assert values["dci"]["disentanglement"] < 0.05, kind
        assert values["dci"]["completeness"] < 0.05, kind
        assert values["dci"]["informativeness_test"] < 0.3, kind
        assert values["modularity"]["explicitness_test"] < 0.6, kind
    assert scores["constant"]["factor_vae"]["eval_accuracy"] == 0  # every dimension pruned
    assert scores["constant"]["modularity"]["score"] == 0


def test_noise_beside_the_factors_lowers_only_the_scores_that_count_every_dimension():
    rng = np.random.RandomState(6)
    padded = scored(lambda factors: np.concatenate(
        [truth(factors), rng.normal(size=(len(factors), 5))], 1))
    assert padded["beta_vae"]["eval_accuracy"] == 1 and padded["factor_vae"]["eval_accuracy"] == 1
    assert padded["mig"]["score"] > 0.98 and padded["dci"]["disentanglement"] > 0.95
    assert 0.6 < padded["modularity"]["score"] < 0.9  # noise dimensions are not modular


def test_a_metric_draws_the_same_points_whichever_metrics_run_beside_it(of_truth):
    noise = np.random.RandomState(7)
    codes = {}

    def remembered(factors):  # noise, a function of the factors drawn
        key = factors.tobytes()
        if key not in codes:
            codes[key] = noise.normal(size=(len(factors), 5))
        return codes[key]

    alone = scored(remembered, ["mig"])
    assert scored(remembered, ["sap", "mig"])["mig"] == alone["mig"]


def test_unknown_metrics_and_settings_are_refused_in_one_line():
    data = Factors(FACTOR_SIZES, truth)
    with pytest.raises(ConfigError, match="unknown disentanglement metric 'mgi'; did you mean "
                                          "'mig'"):
        scores(data, ["mgi"])
    with pytest.raises(ConfigError, match="the dci metric has no setting 'num_eval'"):
        scores(data, ["dci"], sizes={"dci": {"num_eval": 10}})
    with pytest.raises(ConfigError, match="sizes are given for an unknown metric 'dic'; did "
                                          "you mean 'dci'"):
        scores(data, ["dci"], sizes={"dic": {"num_train": 10}})


def test_a_factor_of_one_value_and_a_single_dimension_score_as_documented():
    """A factor seen with one value only scores 0 on MIG (no NaN from its entropy 0); with
    one dimension MIG's and SAP's gap is to a dimension that carries nothing."""
    constant_factor = Factors((1, 4), truth)
    values = scores(constant_factor, ["mig", "sap"], sizes={"mig": {"num_train": 500},
                                                            "sap": {"num_train": 500,
                                                                    "num_test": 200}})
    assert values["mig"]["score"] == pytest.approx(0.5)  # factor 2: 1, factor 1: 0
    assert values["sap"]["score"] >= 0 and np.isfinite(values["sap"]["score"])
    one_dimension = Factors((4,), truth)
    alone = scores(one_dimension, ["mig", "sap"], sizes={"mig": {"num_train": 500},
                                                         "sap": {"num_train": 500,
                                                                 "num_test": 200}})
    assert alone["mig"]["score"] == pytest.approx(1.0)  # all its information, less 0
    assert 0.25 < alone["sap"]["score"] <= 1.0  # its accuracy, less 0


def test_sprites_are_indexed_as_dsprites_with_pos_y_fastest():
    assert sprites.EXAMPLES == 737_280 and sprites.FACTOR_SIZES == (3, 6, 40, 32, 32)
    np.testing.assert_array_equal(sprites.factors_of([0, 1, 32, 32 * 32, sprites.EXAMPLES - 1]),
                                  [[0, 0, 0, 0, 0], [0, 0, 0, 0, 1], [0, 0, 0, 1, 0],
                                   [0, 0, 1, 0, 0], [2, 5, 39, 31, 31]])
    indices = np.random.RandomState(0).randint(sprites.EXAMPLES, size=100)
    np.testing.assert_array_equal(sprites.indices_of(sprites.factors_of(indices)), indices)
    splits = [sprites.split_indices(split) for split in ("train", "validation", "test")]
    assert [len(split) for split in splits] == [717_280, 10_000, 10_000]
    np.testing.assert_array_equal(np.sort(np.concatenate(splits)), np.arange(sprites.EXAMPLES))


def test_sprites_are_drawn_as_pinned_and_move_grow_and_turn_with_their_factors():
    drawn = sprites.render(sprites.factors_of(np.arange(0, sprites.EXAMPLES, 997)))
    assert drawn.shape == (740, 64, 64) and set(np.unique(drawn)) == {0, 1}
    assert hashlib.sha256(drawn.tobytes()).hexdigest() == PINNED
    square = np.array([0, 0, 0, 16, 16])
    by = {}
    for factor, values in ((1, [0, 5]), (2, [0, 39, 5]), (3, [0, 31]), (4, [0, 31])):
        rows = np.repeat(square[None], len(values), 0)
        rows[:, factor] = values
        by[factor] = sprites.render(rows)
    small, large = by[1].sum((1, 2))
    assert large / small == pytest.approx(4, rel=0.15)  # area goes as scale squared
    np.testing.assert_array_equal(by[2][0], by[2][1])  # orientations 0 and 2 pi: the same
    assert (by[2][0] != by[2][2]).any()
    for factor, axis in ((3, 1), (4, 0)):  # pos_x moves columns, pos_y rows (downwards)
        first, last = (np.nonzero(image)[axis].mean() for image in by[factor])
        assert last - first == pytest.approx(32, abs=0.5)  # half the width, 0 to 1


def test_sprites_load_like_the_other_datasets_from_the_first_images_drawn():
    batches = list(zoo.data.load("sprites", "train", 32, first=64, shuffle=False))
    images = np.concatenate([x for x, _ in batches])
    assert images.shape == (64, 64, 64, 1) and images.dtype == np.float32
    expected = sprites.render(sprites.factors_of(sprites.split_indices("train")[:64]))
    np.testing.assert_array_equal(images[..., 0], expected)
    np.testing.assert_array_equal(batches[0][1], batches[0][0])  # (x, x)
    with pytest.raises(DataError, match="sprites has no class labels"):
        zoo.data.load("sprites", "train", labels=True)


def test_a_model_on_sprites_is_scored_and_a_model_of_other_images_refused():
    model = zoo.get("mlp_vae", latent_dim=4, hidden_units=(16,), input_shape=(64, 64, 1))
    sizes = {"mig": {"num_train": 1000},  # 12,000 images drawn, as the metrics ask
             "factor_vae": {"num_train": 100, "num_eval": 50, "num_variance_estimate": 1000}}
    scores = zoo.disentanglement(model, sizes=sizes, metrics=["mig", "factor_vae"],
                                 verbose=0)
    assert set(scores) == {"mig", "factor_vae"}
    assert 0 <= scores["mig"]["score"] < 0.5  # an untrained encoder
    with pytest.raises(DataError, match="this model takes 28x28x1 images, sprites has "
                                        "64x64x1; train one on sprites"):
        zoo.disentanglement(zoo.get("mlp_vae", latent_dim=2, hidden_units=(8,)))
    with pytest.raises(DataError, match="binarized_mnist has no known factors"):
        zoo.disentanglement(model, dataset="binarized_mnist")


def test_a_sprites_run_from_the_command_line_is_scored_and_its_scores_kept(tmp_path, capsys):
    from zoo import cli
    out = tmp_path / "run"
    cli.main(["train", "mlp_vae", "--dataset", "sprites", "--epochs", "2", "--latent-dim", "3",
              "--set", "hidden_units=32", "--train-examples", "512", "--eval-examples", "256",
              "--out", str(out)])
    assert json.loads((out / "model.json").read_text())["overrides"]["input_shape"] == [
        64, 64, 1]  # the dataset's shape, implied
    capsys.readouterr()
    cli.main(["eval", "--disentanglement", str(out), "--metrics", "mig,sap",
              "--metric-points", "400"])
    printed = capsys.readouterr().out
    assert "disentanglement on sprites (seed 0):" in printed
    assert "test ELBO on sprites" not in printed  # the metrics alone: no test ELBO paid for
    assert f"(the test ELBO is not evaluated with --disentanglement alone: `zoo eval {out}` " \
        "gives it)" in printed
    recorded = json.loads((out / "disentanglement.json").read_text())
    assert recorded["mig"]["sizes"] == {"num_train": 400, "bins": 20}
    assert recorded["sap"]["sizes"] == {"num_train": 400, "num_test": 200, "C": 0.01}
    assert f"mig: score {recorded['mig']['scores']['score']:.3f}" in printed
    assert "tensorflow" in recorded["mig"]["environment"]["packages"]
    cli.main(["eval", "--disentanglement", str(out), "--metrics", "mig", "--metric-points",
              "400", "--examples", "64"])  # a test setting: the ELBO of those examples too
    printed = capsys.readouterr().out
    assert "64 examples" in printed and "mig: score" in printed
    for wrong, message in (
            (["--metrics", "mig"], "--metrics and --metric-points choose the disentanglement "
                                   "metrics; add --disentanglement"),
            (["--disentanglement", "--metrics", "migg"], "unknown disentanglement metric "
                                                         "'migg'; did you mean 'mig'?")):
        with pytest.raises(SystemExit):
            cli.main(["eval", str(out), *wrong])
        assert message in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["eval", str(out), "--dataset", "binarized_mnist", "--disentanglement"])
    assert capsys.readouterr().err == (  # before the evaluation, not after
        f"zoo: error: {out} takes 64x64x1 images, and binarized_mnist has 28x28x1; pass "
        "--dataset sprites\n")


@pytest.mark.parametrize("name, objective", [("cnn_vae", "ELBO"), ("beta_vae", "ELBO"),
                                             ("beta_tcvae", "BetaTC")])
def test_disentanglement_libs_networks_serve_other_families(name, objective, test_images):
    """network="locatello_conv": its convolutions and diagonal posterior, the family's own
    objective; on 28x28 images (test_images) the decoder's 32x32 map is cropped to 28x28."""
    model = zoo.get(name, latent_dim=3, network="locatello_conv")
    convolutions = [layer for layer in model.encoder.layers
                    if isinstance(layer, tf_keras.layers.Conv2D)]
    assert [(layer.filters, layer.kernel_size, layer.strides) for layer in convolutions] == [
        (32, (4, 4), (2, 2)), (32, (4, 4), (2, 2)), (64, (2, 2), (2, 2)), (64, (2, 2), (2, 2))]
    assert type(model.encoder.layers[-1]).__name__ == "MultivariateNormalDiag"
    assert type(model.objective).__name__ == objective
    before = [weights.copy() for weights in model.get_weights()]
    model.fit(test_images[:128], batch_size=64, verbose=0)
    assert any((a != b).any() for a, b in zip(before, model.get_weights(), strict=True))
    assert model(test_images[:4]).mean().shape == (4, 28, 28, 1)
