"""The conditional VAE: labels through fit and the one train_step, its objective by hand,
a row per class in its pictures, and one-line errors without labels; real fashion_mnist."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras
from PIL import Image

import zoo
from zoo import plot
from zoo.errors import ConfigError, DataError
from zoo.models.posteriors import reparameterized_sample

tfd = tfp.distributions
SEED = tf.constant([8, 9], tf.int64)


@pytest.fixture(scope="module")
def fashion(load):
    """4,096 training and 256 test fashion_mnist images with their labels."""
    train = [np.concatenate(part) for part in zip(*load("fashion_mnist", "train", 512,
                                                        labels=True).take(8), strict=True)]
    test = next(iter(load("fashion_mnist", "test", 256, labels=True)))
    return train, [t.numpy() for t in test]


@pytest.fixture(scope="module")
def trained(fashion):
    (images, labels), _ = fashion
    tf_keras.utils.set_random_seed(3)
    model = zoo.get("cvae", latent_dim=4, hidden_units=(128,))
    model.fit(images, labels, batch_size=64, epochs=5, verbose=0)
    return model


def test_the_loss_is_the_conditional_elbo_computed_by_hand(trained, fashion):
    _, (x, y) = fashion
    terms = trained.terms((x, y), 1, SEED)
    one_hot = tf.one_hot(y, 10)
    posterior = trained.encoder([x, one_hot])                      # q(z|x, y)
    z = reparameterized_sample(posterior, 1, SEED)[0]
    np.testing.assert_allclose(terms.codes[0], z, rtol=1e-6)
    log_px = trained.decoder([z, one_hot]).log_prob(x)               # p(x|z, y)
    kl = tfd.kl_divergence(posterior, tfd.MultivariateNormalDiag(tf.zeros(4), tf.ones(4)))
    np.testing.assert_allclose(terms.log_likelihood[0], log_px, rtol=1e-5)
    np.testing.assert_allclose(terms.kl, kl, rtol=1e-5)
    loss = trained.objective(trained, (x, y), SEED)["loss"]
    np.testing.assert_allclose(loss, -log_px + kl, rtol=1e-5)


def test_the_label_changes_the_image_for_the_same_code(trained):
    codes = tf.zeros((10, 4))
    images = trained.decode(codes, np.arange(10)).mean().numpy()
    trousers, bags = images[1], images[8]
    assert np.abs(trousers - bags).mean() > 0.05
    metrics = zoo.evaluate(trained, (np.zeros((4, 28, 28, 1), np.float32), np.arange(4)),
                           log_likelihood_samples=5, verbose=0)
    assert metrics["elbo_nats"] <= metrics["log_likelihood_nats"]


def test_without_labels_or_with_wrong_ones_it_says_so_in_one_line(trained, fashion, tmp_path):
    (images, labels), _ = fashion
    with pytest.raises(DataError, match="a conditional model needs class labels with its "
                                        r"images: fit\(images, labels\)"):
        trained.fit(images[:64], verbose=0)
    for wrong, message in (
            (labels[:64] + 10, r"labels must be integers in \[0, 10\), got values in "
                               r"\[10, 19\]; build the model with classes=N for labels 0 to "
                               "N-1$"),
            (np.eye(10)[labels[:64]], r"labels must be one class index per example, got "
                                      r"float64 labels of shape \(64, 10\) \(one-hot\?\); "
                                      r"pass labels.argmax\(axis=1\)$"),
            (labels[:64].astype(np.float32), r"integer class indices, got float32 labels of "
                                             r"shape \(64,\); pass labels.astype\('int64'\)$")):
        with pytest.raises(DataError, match=message):
            trained.fit(images[:64], wrong, verbose=0)
    one_hot = tf.data.Dataset.from_tensor_slices((images[:64], np.eye(10)[labels[:64]]))
    with pytest.raises(DataError, match=r"got batches of shape \(None, 10\) \(one-hot\?\); "
                                        r"map them to tf.argmax\(labels, axis=1\)$"):
        trained.fit(one_hot.batch(32), verbose=0)
    with pytest.raises(ConfigError, match="the recon plot is for unconditional models"):
        plot.reconstructions(trained, images[:4], tmp_path / "never.png")
    with pytest.raises(ConfigError, match="zoo.export takes unconditional models"):
        zoo.export(trained, tmp_path / "never_export")
    assert not list(tmp_path.iterdir())  # refused before writing anything


def test_a_run_trains_on_labelled_batches_and_its_samples_have_a_row_per_class(
        manual_dir, tmp_path):
    config = zoo.RunConfig(model="cvae", dataset="fashion_mnist", epochs=1, eval_samples=1,
                           overrides={"latent_dim": 4, "hidden_units": [64]}, batch_size=256,
                           train_examples=20000, eval_examples=1000)
    _, metrics = zoo.train(config, tmp_path / "run", manual_dir=manual_dir, verbose=0)
    assert -400 < metrics["test"]["elbo_nats"] < -200
    path = plot.from_run("samples", tmp_path / "run", manual_dir=manual_dir)
    pixels = np.asarray(Image.open(path).convert("L"), np.float32)
    assert pixels.std() > 20 and pixels.shape[0] > pixels.shape[1]  # 10 rows of 6 codes
    with pytest.raises(zoo.ZooError, match=r"binarized_mnist has no class labels, which a "
                                           r"conditional model \(cvae\) trains on .*; use a "
                                           "dataset with them: mnist or fashion_mnist"):
        zoo.train(zoo.RunConfig(model="cvae", epochs=1), manual_dir=manual_dir, verbose=0)
