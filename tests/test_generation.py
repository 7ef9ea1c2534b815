"""What a trained model makes: encode / reconstruct / sample, interpolation paths, the
samplers fitted on its codes (a small mlp_vae trained here on binarized_mnist), the feature
networks, and zoo eval --generation on a run."""

import importlib
import json
import pathlib
import shutil

import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import zoo
from small import small
from zoo import features, interpolation, samplers
from zoo.cli import main
from zoo.errors import ConfigError, WeightsError

REPO = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def trained(load):
    model = small("mlp_vae", latent_dim=3)
    model.fit(load("binarized_mnist", "train", 100, first=2000), epochs=2, verbose=0)
    images = np.concatenate([x for x, _ in load("binarized_mnist", "test", 500, first=500)])
    return model, images


def test_encode_reconstruct_and_sample_are_the_model_s_parts_seeded(trained):
    model, images = trained
    codes = model.encode(images[:8])
    np.testing.assert_array_equal(codes, model.posterior(images[:8]).tensor_distribution.mean())
    drawn = model.encode(images[:8], seed=5)
    np.testing.assert_array_equal(drawn, model.encode(images[:8], seed=5))
    assert not np.array_equal(drawn, model.encode(images[:8], seed=6))
    np.testing.assert_array_equal(model.reconstruct(images[:8]), model.decoder(codes).mean())
    made = model.sample(6, seed=1)
    assert made.shape == (6, 28, 28, 1)
    np.testing.assert_array_equal(made, model.sample(6, seed=(0, 1)))  # an int s is (0, s)
    np.testing.assert_array_equal(made, model.decoder(model.prior.sample(
        6, seed=tf.constant([0, 1]))).mean())
    assert set(np.unique(model.sample(6, seed=1, mean=False))) <= {0.0, 1.0}


def test_paths_run_from_one_code_to_the_other_linearly_or_on_the_sphere(trained):
    model, images = trained
    start, end = np.array([3.0, 0.0, 0.0]), np.array([0.0, 3.0, 0.0])
    linear = interpolation.path_codes(start, end, 5, "linear").numpy()
    np.testing.assert_allclose(linear[[0, 2, 4]], [start, (start + end) / 2, end], atol=1e-6)
    spherical = interpolation.path_codes(start, end, 5, "spherical").numpy()
    np.testing.assert_allclose(np.linalg.norm(spherical, axis=1), 3.0, rtol=1e-6)
    np.testing.assert_allclose(spherical[2], [3 / np.sqrt(2), 3 / np.sqrt(2), 0], atol=1e-6)
    decoded = zoo.interpolate(model, images[0], images[1], steps=4, path="spherical")
    assert decoded.shape == (4, 28, 28, 1)
    np.testing.assert_allclose(decoded[0], model.reconstruct(images[:1])[0], atol=1e-6)
    np.testing.assert_allclose(decoded[-1], model.reconstruct(images[1:2])[0], atol=1e-6)
    with pytest.raises(ConfigError, match="unknown path 'curved'"):
        interpolation.path_codes(start, end, 5, "curved")


def test_a_gaussian_mixture_on_the_codes_samples_seeded_and_survives_a_round_trip(
        trained, tmp_path):
    model, images = trained
    gmm = samplers.fit("gmm", model, images, components=3)
    assert gmm.means.shape == (3, 3) and gmm.fitted["codes"] == 500
    codes = gmm.sample(7, seed=tf.constant([0, 4]))
    assert codes.shape == (7, 3)
    np.testing.assert_array_equal(codes, gmm.sample(7, seed=tf.constant([0, 4])))
    again = samplers.load(samplers.save(gmm, tmp_path / "gmm.npz"))
    np.testing.assert_array_equal(again.sample(7, seed=tf.constant([0, 4])), codes)
    assert again.fitted == gmm.fitted
    made = model.sample(7, seed=4, sampler=again)
    np.testing.assert_array_equal(made, model.decoder(codes).mean())
    # the mixture fits the codes better than the prior does (EM's own mean log-density)
    prior_density = np.mean(model.prior.log_prob(samplers.codes_of(model, images)
                                                 .astype(np.float32)))
    assert gmm.fitted["mean_log_density"] > prior_density
    with pytest.raises(ConfigError, match="unknown sampler 'gmn'; did you mean 'gmm'"):
        samplers.fit("gmn", model, images)


def test_inception_without_weights_gives_2048_features_through_the_weighted_path(trained):
    _, images = trained
    extract = features.inception_network(weights=None)
    assert features.features_of(extract, images[:3], batch_size=2).shape == (3, 2048)


def test_inception_s_missing_weights_are_one_line_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))  # no weights there, and no network
    with pytest.raises(WeightsError, match=f"put {features.INCEPTION_FILE} \\(from https://"
                       f".*\\) at {tmp_path / 'models' / features.INCEPTION_FILE}$"):
        features.inception_network()


def test_zoo_eval_generation_scores_prior_and_gmm_and_keeps_the_fitted_mixture(
        manual_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(importlib.import_module("zoo.generation"), "SAMPLER_IMAGES", 3000)
    config = zoo.RunConfig(model="mlp_vae", dataset="fashion_mnist", epochs=1,
                           train_examples=2000, eval_examples=500,
                           overrides={"latent_dim": 4, "hidden_units": [64]})
    zoo.train(config, tmp_path / "run", manual_dir=manual_dir, verbose=0)
    argv = ["eval", str(tmp_path / "run"), "--generation", "--generation-samples", "300"]
    main(argv)
    printed = capsys.readouterr().out
    assert "(the test ELBO is not evaluated with --generation alone" in printed
    assert "fitting the gmm sampler on the codes of 3000 training images" in printed
    assert "300/300 [====" in printed  # each sampler's draws: a bar
    for kind in ("prior", "gmm"):
        assert f"{kind}: FID " in printed and "(classifier:fashion_mnist features, 300 " \
                                               "samples)" in printed
    key = "classifier:fashion_mnist on fashion_mnist"
    recorded = json.loads((tmp_path / "run" / "generation.json").read_text())[key]
    assert recorded["features"] == "classifier:fashion_mnist" and recorded["n"] == 300
    assert recorded["reference"]["examples"] == 10_000  # the whole test split
    mixture = tmp_path / "run" / "samplers" / "gmm.npz"
    fitted_at = mixture.stat().st_mtime_ns
    main(argv)  # again: the mixture reused, the same numbers
    assert mixture.stat().st_mtime_ns == fitted_at
    assert "fitting the gmm" not in capsys.readouterr().out
    again = json.loads((tmp_path / "run" / "generation.json").read_text())[key]
    assert again["samplers"]["gmm"]["fid"] == recorded["samplers"]["gmm"]["fid"]
    assert again["samplers"]["prior"]["precision"] == recorded["samplers"]["prior"][
        "precision"]
    main(["plot", "samples", str(tmp_path / "run"), "--sampler", "gmm"])  # the kept mixture
    assert (tmp_path / "run" / "samples-gmm.png").stat().st_size > 1000
    assert mixture.stat().st_mtime_ns == fitted_at


def test_a_row_s_sample_quality_is_recorded_and_the_leaderboard_shows_it(
        manual_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(importlib.import_module("zoo.generation"), "SAMPLER_IMAGES", 3000)
    row = "mlp_vae_fashion_mnist"
    for folder, name in (("results", f"{row}.json"), ("weights", f"{row}.h5")):
        (tmp_path / "benchmarks" / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(REPO / "benchmarks" / folder / name, tmp_path / "benchmarks" / folder)
    weights = tmp_path / "benchmarks" / "weights" / f"{row}.h5"
    main(["eval", str(weights), "--generation", "--generation-samples", "200", "--record",
          "--manual-dir", str(manual_dir)])
    assert "recorded in" in capsys.readouterr().out
    recorded = json.loads((tmp_path / "benchmarks" / "results" / f"{row}.json").read_text())
    found = recorded["generation"]["classifier:fashion_mnist"]
    assert found["n"] == 200 and found["weights_sha256"] == recorded["weights_sha256"]
    board = (tmp_path / "benchmarks" / "LEADERBOARD.md").read_text()
    line = next(text for text in board.splitlines()
                if text.startswith(f"| {row} | mlp_vae (vanilla) | 200 |"))
    prior, gmm = found["samplers"]["prior"], found["samplers"]["gmm"]
    assert f"| {prior['fid']:.2f} | {gmm['fid']:.2f} |" in line
    assert board.index("### classifier:fashion_mnist features") < board.index(line)


def test_a_flow_on_the_codes_fits_them_better_than_the_prior_and_survives_a_round_trip(
        trained, tmp_path):
    model, images = trained
    codes = samplers.codes_of(model, images)
    flow = samplers.Flow.fit(codes, seed=0, epochs=50)  # 100 steps of 256 codes
    drawn = flow.sample(7, seed=tf.constant([0, 4]))
    assert drawn.shape == (7, 3)
    np.testing.assert_array_equal(drawn, flow.sample(7, seed=tf.constant([0, 4])))
    again = samplers.load(samplers.save(flow, tmp_path / "flow.npz"))
    np.testing.assert_array_equal(again.sample(7, seed=tf.constant([0, 4])), drawn)
    np.testing.assert_allclose(again.distribution.log_prob(codes.astype(np.float32)),
                               flow.distribution.log_prob(codes.astype(np.float32)), rtol=1e-6)
    prior = float(np.mean(model.prior.log_prob(codes.astype(np.float32))))
    assert flow.fitted["mean_log_density"] > prior


def test_binary_data_are_compared_as_pixels_drawn_on_their_classifier_s_features(
        trained, manual_dir):
    model, _ = trained
    found = zoo.generation(model, "binarized_mnist", samplers=("prior",), n=200,
                           manual_dir=manual_dir, verbose=0)
    assert found["features"] == "classifier:binarized_mnist"
    assert found["reference"] == {"dataset": "binarized_mnist", "split": "test",
                                  "examples": 10_000, "binarization": "static"}
    prior = found["samplers"]["prior"]
    assert prior["fid"] > 0 and 0 <= prior["precision"] <= 1 and 0 <= prior["recall"] <= 1
    with pytest.raises(ConfigError, match="unknown sampler 'gm'"):
        zoo.generation(model, "binarized_mnist", samplers=("gm",), manual_dir=manual_dir)


def test_a_second_stage_vae_on_the_codes_samples_seeded_and_survives_a_round_trip(
        trained, tmp_path):
    model, images = trained
    codes = samplers.codes_of(model, images)
    stage = samplers.TwoStage.fit(codes, seed=0, epochs=5)
    assert tuple(stage.model.image_shape) == (3, 1, 1)
    np.testing.assert_allclose(stage.shift, codes.mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(stage.scale, codes.std(0), rtol=1e-4)  # standardised
    assert stage.fitted["kl"] > 0
    drawn = stage.sample(6, seed=tf.constant([0, 2]))
    assert drawn.shape == (6, 3)
    np.testing.assert_array_equal(drawn, stage.sample(6, seed=tf.constant([0, 2])))
    again = samplers.load(samplers.save(stage, tmp_path / "two_stage.npz"))
    np.testing.assert_array_equal(again.sample(6, seed=tf.constant([0, 2])), drawn)
    made = model.sample(6, seed=2, sampler=again)
    np.testing.assert_array_equal(made, model.decoder(drawn).mean())
    with np.load(tmp_path / "two_stage.npz") as held:  # a file of version 1: unstandardised
        old = {name: held[name] for name in held.files if name not in ("shift", "scale")}
    np.savez(tmp_path / "version1.npz", **old)
    before = samplers.load(tmp_path / "version1.npz")
    np.testing.assert_array_equal(before.shift, np.zeros(3))
    np.testing.assert_array_equal(before.scale, np.ones(3))
    inner = stage.model.decoder(stage.model.prior.sample(6, seed=tf.constant([0, 2]))).sample(
        seed=tf.random.experimental.stateless_fold_in(tf.constant([0, 2]), 1))  # by hand
    np.testing.assert_allclose(drawn, tf.reshape(inner, [6, 3]) * codes.std(0)
                               + codes.mean(0), rtol=1e-4, atol=1e-5)


def test_a_conditional_model_makes_each_test_label_s_image_with_samplers_beside_its_file(
        manual_dir, tmp_path, capsys, monkeypatch):
    config = zoo.RunConfig(model="cvae", dataset="fashion_mnist", epochs=1,
                           train_examples=2000, eval_examples=500,
                           overrides={"latent_dim": 4, "hidden_units": [64]})
    zoo.train(config, tmp_path / "run", manual_dir=manual_dir, verbose=0)
    saved = tmp_path / "cvae.keras"
    zoo.load(tmp_path / "run").save(saved)
    monkeypatch.setattr(importlib.import_module("zoo.generation"), "SAMPLER_IMAGES", 3000)
    argv = ["eval", str(saved), "--dataset", "fashion_mnist", "--generation",
            "--generation-samples", "300", "--manual-dir", str(manual_dir)]
    main(argv)
    printed = capsys.readouterr().out
    agreement = float(printed.split("gmm: ")[1].split("class agreement ")[1].split(" ")[0])
    mixture = tmp_path / "cvae.keras.samplers" / "gmm.npz"  # kept beside the .keras file
    fitted = samplers.load(mixture)
    assert fitted.fitted["codes"] == 3000 and fitted.fitted["dataset"] == "fashion_mnist"
    model = tf_keras.models.load_model(saved)
    labels = np.concatenate([y for _, y in zoo.data.load(
        "fashion_mnist", "test", 500, labels=True, first=300, manual_dir=manual_dir)])
    made = model.sample(300, seed=(0, 0), sampler=fitted, labels=labels)  # by hand
    classes = features.classes_of(features.classifier("classifier:fashion_mnist"),
                                  np.clip(made, 0, 1))
    assert agreement == pytest.approx(np.mean(classes == labels), abs=6e-4)  # 3 decimals
    fitted_at = mixture.stat().st_mtime_ns
    main(["plot", "samples", str(saved), "--dataset", "fashion_mnist", "--sampler", "gmm",
          "--manual-dir", str(manual_dir), "--out", str(tmp_path / "by-class.png")])
    assert (tmp_path / "by-class.png").stat().st_size > 1000  # a row per class
    assert mixture.stat().st_mtime_ns == fitted_at  # the kept mixture reused


def test_the_sprites_classifier_tells_the_five_factors_of_test_images():
    from zoo import sprites
    from zoo.pretrained import CLASSIFIERS

    model = features.classifier("classifier:sprites")
    indices = sprites.split_indices("test")[:500]
    images = sprites.render(sprites.factors_of(indices))[..., None].astype(np.float32)
    heads = model.predict(images, verbose=0)
    accuracies = [np.mean(np.argmax(head, -1) == factor)
                  for head, factor in zip(heads, sprites.factors_of(indices).T, strict=True)]
    assert accuracies[0] > 0.95  # shape
    assert np.mean(accuracies) == pytest.approx(CLASSIFIERS["sprites"].test_accuracy, abs=0.05)
    _, extract = features.network("classifier:sprites")
    assert features.features_of(extract, images[:10]).shape == (10, features.FEATURE_UNITS)


def test_every_declared_classifier_ships_with_its_sha256_and_gives_its_features():
    from zoo.pretrained import CLASSIFIERS

    for dataset, entry in CLASSIFIERS.items():
        name, extract = features.network(f"classifier:{dataset}")  # the SHA-256 checked
        images = np.zeros([2, *entry.input_shape], np.float32)
        assert features.features_of(extract, images).shape == (2, features.FEATURE_UNITS), name
