"""Every leaderboard row is a pretrained model: ``zoo.get(name, weights=...)`` (the dataset,
or the row's own weights name) gives its trained weights, checked against the figure its
result file records; fetched from a URL with its SHA-256 checked; one-line errors when the
file is missing or wrong."""

import json
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import pretrained, recipes
from zoo.cli import main
from zoo.errors import OverrideError, UnknownModelError, WeightsError
from zoo.evaluate import subset_metrics
from zoo.models import registry
from zoo.pretrained import Pretrained

REPO_RESULTS = pretrained.ROW_WEIGHTS.parent / "results"


@pytest.mark.parametrize("entry", pretrained.entries(), ids=lambda e: e.row)
def test_every_pretrained_model_gives_the_elbo_its_result_file_records(entry, manual_dir):
    model = zoo.get(entry.builder, weights=entry.weights)
    result = json.loads((REPO_RESULTS / f"{entry.row}.json").read_text())
    assert result["weights_sha256"] == entry.sha256
    assert result["recipe_contents"]["dataset"] == entry.dataset
    plan = recipes.from_dict(entry.row, result["recipe_contents"]).plan.reading(manual_dir)
    overrides = model.zoo_config["overrides"]  # the recipe's, and those its data implied:
    sizes = {name: overrides[name] for name in  # the image shape, the training set's size
             registry.builder(entry.builder).training_set_size_fields()
             if name in overrides and name not in plan.config.overrides}
    assert overrides == {**plan.model_overrides(), **sizes}
    subset = subset_metrics(model, plan)
    assert subset["examples"] == 2000
    recorded = [key for key in ("elbo_nats", "reconstruction_nats")  # an autoencoder's: the
                if key in result["first_2000"]]                       # reconstruction alone
    assert recorded
    for key in recorded:
        assert subset[key] == pytest.approx(result["first_2000"][key], abs=0.5)
    assert pretrained.ROW_WEIGHTS.joinpath(entry.filename).stat().st_size < 10 * 2**20


def test_zoo_list_shows_the_pretrained_models_and_their_numbers(capsys):
    main(["list", "--pretrained"])
    out = capsys.readouterr().out
    assert "mlp_vae         weights='binarized_mnist'       -log p(x) 88.82 nats (K = 5000)" in out
    assert ("cnn_vae         weights='fashion_mnist_8bit'    -log p(x) 1821.60 nats (K = 1000), "
            "3.352 bits/dim; row cnn_vae_fashion_mnist_8bit") in out
    assert "iwae            weights='binarized_mnist_gated' -log p(x) 87.40 nats (K = 5000)" in out
    assert ("dip_vae         weights='sprites'               -ELBO 116.97 nats, MIG 0.014; "
            "row sprites_dip_vae") in out  # no importance sampling on sprites
    lines = out.splitlines()
    assert len(lines) == len(pretrained.entries())
    figures = {re.match(r"\S+ +weights=\S+ +", line).end() for line in lines}
    assert len(figures) == 1  # one column, however long the weights names


def test_weights_come_from_a_url_with_their_hash_checked(tmp_path, monkeypatch):
    entry = next(e for e in pretrained.entries() if e.row == "mlp_vae")
    served = tmp_path / "served"
    served.mkdir()
    shutil.copy(pretrained.ROW_WEIGHTS / entry.filename, served / entry.filename)
    monkeypatch.setattr(pretrained, "ROW_WEIGHTS", tmp_path / "no_clone")  # as a pip install
    with pytest.raises(WeightsError, match="the weights of zoo.get\\('mlp_vae', weights="
                                           "'binarized_mnist'\\) \\(mlp_vae.h5\\) are not in "
                                           ".*no_clone and ZOO_WEIGHTS_URL is not set; put "
                                           "mlp_vae.h5 there"):
        zoo.get("mlp_vae", weights="binarized_mnist")
    monkeypatch.setenv("ZOO_WEIGHTS_URL", served.as_uri())
    monkeypatch.setenv("ZOO_WEIGHTS_CACHE", str(tmp_path / "cache"))
    model = zoo.get("mlp_vae", weights="binarized_mnist")
    assert (tmp_path / "cache" / "zoo_weights" / entry.filename).is_file()
    assert model.latent_dim == 32
    wrong = Pretrained("mlp_vae", "elsewhere", "mlp_vae", "0" * 64)  # a download that differs
    with pytest.raises(WeightsError, match="could not fetch mlp_vae.h5 from file:.*hash does "
                                           "not match"):
        pretrained.file(wrong)
    (tmp_path / "no_clone").mkdir()  # a local file that differs
    (tmp_path / "no_clone" / entry.filename).write_bytes(b"not the weights")
    with pytest.raises(WeightsError, match="mlp_vae.h5 has SHA-256 .*, not the "
                                           "c0459a786dc1780c... declared for mlp_vae"):
        zoo.get("mlp_vae", weights="binarized_mnist")
    monkeypatch.setenv("ZOO_WEIGHTS_URL", (tmp_path / "nowhere").as_uri())
    with pytest.raises(WeightsError, match="could not fetch cnn_vae.h5 from file:"):
        zoo.get("cnn_vae", weights="binarized_mnist")


def test_asking_for_weights_that_do_not_exist_is_one_line():
    with pytest.raises(UnknownModelError, match="mlp_vae has no pretrained weights named "
                                                "'binarized_mnst'; did you mean "
                                                "'binarized_mnist'"):
        zoo.get("mlp_vae", weights="binarized_mnst")
    with pytest.raises(OverrideError, match="weights='binarized_mnist' is the row's model as "
                                            "trained; drop the overrides \\(latent_dim\\)"):
        zoo.get("mlp_vae", weights="binarized_mnist", latent_dim=2)


def test_weights_may_be_the_path_of_a_weights_file_as_in_keras_applications(tmp_path):
    trained = zoo.get("mlp_vae", latent_dim=2, hidden_units=(8,))
    trained.encoder.trainable_variables[0].assign_add(tf.ones_like(  # not the initial ones
        trained.encoder.trainable_variables[0]))
    zoo.save(trained, tmp_path)
    for path in (tmp_path / "model.h5", str(tmp_path / "model.h5")):
        loaded = zoo.get("mlp_vae", latent_dim=2, hidden_units=(8,), weights=path)
        for mine, theirs in zip(loaded.get_weights(), trained.get_weights(), strict=True):
            np.testing.assert_array_equal(mine, theirs)
    with pytest.raises(WeightsError, match="model.h5 does not fit the model: its "
                                           "encoder/.* has shape"):
        zoo.get("mlp_vae", latent_dim=3, hidden_units=(8,), weights=tmp_path / "model.h5")
    with pytest.raises(WeightsError, match="no weights file .*nowhere.h5"):
        zoo.get("mlp_vae", weights="nowhere.h5")


def test_a_second_row_of_a_builder_on_a_dataset_needs_its_own_weights_name(monkeypatch):
    monkeypatch.setattr(pretrained, "_DECLARED", dict(pretrained._DECLARED))  # left as found
    with pytest.raises(ValueError, match="mlp_vae already has pretrained weights named "
                                         "'binarized_mnist' \\(row mlp_vae\\); give row "
                                         "mlp_vae_again another weights= name"):
        pretrained.declare(Pretrained("mlp_vae", "binarized_mnist", "mlp_vae_again", "0" * 64))
    named = Pretrained("cnn_vae", "fashion_mnist", "grey", "0" * 64, weights="fashion_mnist_8bit")
    assert (named.weights, Pretrained("cnn_vae", "fashion_mnist", "r", "0" * 64).weights) == (
        "fashion_mnist_8bit", "fashion_mnist")
