"""``zoo.export``: a SavedModel whose four signatures, loaded in a fresh Python that imports
neither zoo nor TFP nor tf_keras, give the live model's numbers."""

import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

import zoo
from small import small
from zoo.cli import main
from zoo.errors import ConfigError

# One builder per code path: diagonal and full-covariance posteriors, a flow posterior, a
# von Mises-Fisher posterior on the sphere, a learned mixture prior, a hierarchical model
# with a VampPrior, leapfrog steps (gradients inside the served ELBO), a VQ-VAE (a point
# mass, a PixelCNN prior drawn in a loop), an autoencoder (codes without a density: its
# reconstruction served in place of an ELBO), a likelihood of 8-bit pixels; each at its
# small size (small.py).
BUILDERS = {"mlp_vae": {}, "cnn_vae": {}, "iaf_vae": {}, "svae": {}, "mog_vae": {},
            "hvae_vamp": {}, "hamiltonian_vae": {}, "vq_vae": {}, "rae_gp": {},
            "mlp_vae_logistic": {"likelihood": "logistic_mixture"}}
SEED = [3, 4]

# Runs in a fresh process: TensorFlow and NumPy only.
SERVE = """
import json, sys
import numpy as np
import tensorflow as tf
folders, images, out = sys.argv[1], sys.argv[2], sys.argv[3]
images = tf.constant(np.load(images))
seed = tf.constant(%s, tf.int32)
results = {}
for name, folder in json.loads(folders).items():
    signatures = tf.saved_model.load(folder).signatures
    codes = signatures["encode"](images=images)
    location = codes.get("mean", codes.get("location", codes.get("mean_direction",
                                                                 codes.get("codes"))))
    outputs = {**{"encode/" + k: v for k, v in codes.items()},
               "decode/mean": signatures["decode"](codes=location)["mean"],
               **{"sample/" + k: v for k, v in signatures["sample"](
                   n=tf.constant(5), seed=seed).items()},
               **{name + "/" + k: v for name in ("elbo", "reconstruction")
                  if name in signatures
                  for k, v in signatures[name](images=images, seed=seed).items()}}
    for key, value in outputs.items():
        results[name + "|" + key] = value.numpy()
np.savez(out, **results)
imported = [m for m in ("zoo", "tensorflow_probability", "tf_keras") if m in sys.modules]
print(json.dumps(imported))
""" % SEED


def live_outputs(model, images):
    """The same quantities from the live model, through the zoo's own API (``encode``,
    ``reconstruct`` and ``sample`` among them)."""
    posterior = model.encoder(images)
    distribution = posterior.tensor_distribution
    if model.zoo_config["name"] == "iaf_vae":
        base = distribution.distribution
        encoded = {"location": tf.convert_to_tensor(posterior), "base_mean": base.mean(),
                   "base_scale_tril": base.scale.to_dense()}
        location = encoded["location"]
    elif model.zoo_config["name"] == "svae":
        encoded = {"mean_direction": distribution.mean_direction,
                   "concentration": distribution.concentration}
        location = encoded["mean_direction"]
    elif model.zoo_config["name"] == "vq_vae":
        location = distribution.quantized
        encoded = {"codes": location, "indices": model.encoder.layers[-1].nearest(location)}
    elif not model.has_elbo:  # an autoencoder's point mass
        location = distribution.mean()
        encoded = {"codes": location}
    else:
        encoded = {"mean": distribution.mean(), "scale_tril": distribution.scale.to_dense()}
        location = encoded["mean"]
    np.testing.assert_array_equal(model.encode(images), location)
    codes = model.prior.sample(5, seed=tf.constant(SEED, tf.int32))
    terms = model.terms(images, 1, tf.constant(SEED, tf.int64))
    outputs = {**{"encode/" + k: v for k, v in encoded.items()},
               "decode/mean": model.reconstruct(images),
               "sample/codes": codes, "sample/mean": model.sample(5, seed=SEED),
               "sample/images": model.sample(5, seed=SEED, mean=False)}
    if model.has_elbo:
        outputs.update({"elbo/elbo": -(terms.reconstruction + terms.kl),
                        "elbo/reconstruction": terms.reconstruction, "elbo/kl": terms.kl})
    else:
        outputs["reconstruction/reconstruction"] = terms.reconstruction
    return {key: np.asarray(value) for key, value in outputs.items()}


def test_exported_signatures_match_the_live_model_in_a_process_without_zoo(
        test_images, tmp_path):
    images = test_images[:16]
    np.save(tmp_path / "images.npy", images)
    folders, expected = {}, {}
    for name, overrides in BUILDERS.items():
        model = small(name.removesuffix("_logistic"), latent_dim=3, **overrides)
        model.set_weights([w * 1.05 + 0.01 if w.dtype.kind == "f" else w  # not the initial
                           for w in model.get_weights()])               # weights, untraced
        folders[name] = str(zoo.export(model, tmp_path / name))
        expected[name] = live_outputs(model, images)
    script = tmp_path / "serve.py"
    script.write_text(SERVE)
    done = subprocess.run([sys.executable, str(script), json.dumps(folders),
                           str(tmp_path / "images.npy"), str(tmp_path / "served.npz")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []  # none of them imported
    served = np.load(tmp_path / "served.npz")
    for name in BUILDERS:
        assert {key.split("|")[1] for key in served.files if key.startswith(name + "|")} == (
            set(expected[name]))  # an autoencoder: reconstruction, no elbo
        for key, value in expected[name].items():
            np.testing.assert_allclose(served[f"{name}|{key}"], value, rtol=1e-5, atol=1e-5,
                                       err_msg=f"{name} {key}")
        images_drawn = served[f"{name}|sample/images"]
        assert images_drawn.shape == (5, 28, 28, 1)
        if name in zoo.list():  # Bernoulli draws
            assert set(np.unique(images_drawn)) <= {0.0, 1.0}
        else:  # 8-bit levels k/255
            levels = images_drawn * 255
            np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)
            assert 0 <= levels.min() and levels.max() <= 255
    assert not (served["mlp_vae|elbo/elbo"] == served["mlp_vae|elbo/elbo"][0]).all()


def test_export_refuses_an_existing_folder_and_writes_nothing_on_failure(tmp_path):
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="exists; pick another folder"):
        zoo.export(model, tmp_path / "taken")
    with pytest.raises(ConfigError, match="exists and is not a SavedModel"):
        zoo.export(model, tmp_path / "taken", overwrite=True)
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    with pytest.raises(ConfigError, match="cannot write /proc/zoo_export"):
        zoo.export(model, "/proc/zoo_export")


def test_zoo_export_writes_a_run_as_a_savedmodel_from_the_command_line(test_images, tmp_path,
                                                                       capsys):
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
    zoo.save(model, tmp_path / "run")
    assert main(["export", str(tmp_path / "run"), str(tmp_path / "served")]) is None
    assert "signatures encode, decode, sample, elbo" in capsys.readouterr().out
    elbo = tf.saved_model.load(str(tmp_path / "served")).signatures["elbo"](
        images=tf.constant(test_images[:4]), seed=tf.constant(SEED))["elbo"]
    terms = model.terms(test_images[:4], 1, tf.constant(SEED, tf.int64))
    np.testing.assert_allclose(elbo, -(terms.reconstruction + terms.kl), rtol=1e-6)
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(tmp_path / "run"), str(tmp_path / "served")])
    assert exit_.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1  # one line: exists, --overwrite
    main(["export", str(tmp_path / "run"), str(tmp_path / "served"), "--overwrite"])
