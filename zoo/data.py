"""tf.data pipelines over tensorflow-datasets, yielding binary images for Bernoulli decoders.

Datasets and their binarization (always explicit, and recorded in every run's config):

- ``binarized_mnist``: Larochelle's fixed ("static") binarization of MNIST, the standard
  VAE benchmark; splits train 50,000 / validation 10,000 / test 10,000.
- ``mnist``, ``fashion_mnist``: grey levels in [0, 1] turned into pixels either
  ``"dynamic"``-ally (each pixel ~ Bernoulli(grey level), redrawn every epoch for training,
  drawn once with a fixed seed for validation and test) or ``"static"``-ally (grey > 0.5).
  Validation is the last 10,000 training images; train the first 50,000.

Offline use: tfds's manual-download folder (``manual_dir=`` or the ``ZOO_MANUAL_DIR``
environment variable) holding the dataset's source files, the folder itself or a
sub-folder named after the dataset. Without network and without those files, ``load``
fails at once with a message saying which files to provide, instead of tfds's minutes of
retries.
"""

import dataclasses
import os
import pathlib
import socket
import urllib.parse

import tensorflow as tf
import tensorflow_datasets as tfds

from zoo.errors import ConfigError, DatasetUnavailableError, DataError

BINARIZATIONS = ("static", "dynamic")
SPLITS = ("train", "validation", "test")
MANUAL_DIR_ENV = "ZOO_MANUAL_DIR"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """How a tfds dataset becomes binary images: its split names, scale and labels."""

    splits: dict
    binarizations: tuple
    scale: float
    labelled: bool


DATASETS = {
    "binarized_mnist": DatasetSpec(
        {"train": "train", "validation": "validation", "test": "test"}, ("static",),
        scale=1.0, labelled=False),
    "mnist": DatasetSpec(
        {"train": "train[:50000]", "validation": "train[50000:]", "test": "test"},
        BINARIZATIONS[::-1], scale=1 / 255, labelled=True),
    "fashion_mnist": DatasetSpec(
        {"train": "train[:50000]", "validation": "train[50000:]", "test": "test"},
        BINARIZATIONS[::-1], scale=1 / 255, labelled=True),
}


def spec(name):
    """The DatasetSpec of ``name``, or a DataError listing the datasets the zoo knows."""
    if name not in DATASETS:
        raise DataError(f"unknown dataset '{name}'; the zoo reads: {', '.join(DATASETS)}")
    return DATASETS[name]


def binarization_for(name, binarization=None):
    """The binarization to use for ``name``: the given one, checked, or the dataset's default
    (``static`` for binarized_mnist, ``dynamic`` for mnist and fashion_mnist)."""
    accepted = spec(name).binarizations
    if binarization is None:
        return accepted[0]
    if binarization not in accepted:
        raise DataError(f"{name} accepts binarization {' or '.join(accepted)}, "
                        f"not '{binarization}'")
    return binarization


def load(name, split, batch_size=128, *, binarization=None, shuffle=None, seed=0,
         labels=False, manual_dir=None, data_dir=None, drop_remainder=False):
    """A ``tf.data.Dataset`` of batches ``(x, x)`` (or ``(x, label)`` with ``labels=True``).

    ``x`` is float32 of shape (batch, 28, 28, 1) with values in {0, 1}. ``shuffle`` defaults
    to True for the train split; shuffling and dynamic binarization are seeded by ``seed``
    and differ from epoch to epoch in a reproducible way. The decoded uint8 images are
    cached in memory; conversion and binarization run on whole batches.
    """
    dataset_spec = spec(name)
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}'; use one of {', '.join(SPLITS)}")
    if labels and not dataset_spec.labelled:
        raise DataError(f"{name} has no class labels; use mnist or fashion_mnist for plots "
                        "or metrics that need them")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"batch_size must be an int >= 1, got {batch_size!r}")
    binarization = binarization_for(name, binarization)
    shuffle = split == "train" if shuffle is None else shuffle
    builder = prepared_builder(name, manual_dir=manual_dir, data_dir=data_dir)

    images = builder.as_dataset(split=dataset_spec.splits[split], shuffle_files=False)
    images = images.map(lambda ex: (ex["image"], ex.get("label", tf.constant(-1, tf.int64))),
                        num_parallel_calls=tf.data.AUTOTUNE)
    scale = dataset_spec.scale
    if binarization == "dynamic" and split != "train":
        # One fixed draw per example (seeded by its index), so validation and test numbers
        # do not depend on the batch size or on the run.
        images = images.enumerate().map(
            lambda index, example: (_sample_pixels(example[0], scale, [seed, index]),
                                    example[1]),
            num_parallel_calls=tf.data.AUTOTUNE)
        binarization, scale = "static", 1.0
    images = images.cache()
    if shuffle:
        images = images.shuffle(builder.info.splits[dataset_spec.splits[split]].num_examples,
                                seed=seed, reshuffle_each_iteration=True)
    batches = images.batch(batch_size, drop_remainder=drop_remainder)
    if binarization == "dynamic":
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)
        batches = tf.data.Dataset.zip((batches, seeds)).map(
            lambda batch, draw: (_sample_pixels(batch[0], scale, [seed, draw]), batch[1]),
            num_parallel_calls=tf.data.AUTOTUNE)
    else:
        batches = batches.map(lambda x, y: (_threshold(x, scale), y),
                              num_parallel_calls=tf.data.AUTOTUNE)
    if not labels:
        batches = batches.map(_as_target)
    return batches.prefetch(tf.data.AUTOTUNE)


def _as_target(x, label):
    del label
    return x, x


def _threshold(images, scale):
    """Binary pixels by threshold: grey level > 0.5 (exact for already-binary data)."""
    return tf.cast(tf.cast(images, tf.float32) * scale > 0.5, tf.float32)


def _sample_pixels(images, scale, seed):
    """Binary pixels ~ Bernoulli(grey level), a stateless draw seeded by ``seed``."""
    grey = tf.cast(images, tf.float32) * scale
    uniform = tf.random.stateless_uniform(tf.shape(grey), seed=tf.cast(seed, tf.int64))
    return tf.cast(uniform < grey, tf.float32)


def prepared_builder(name, manual_dir=None, data_dir=None):
    """A tfds builder of ``name`` whose data are prepared: already, from the manual folder,
    or by tfds's download, which is tried only when the source host answers."""
    spec(name)
    builder = tfds.builder(name, data_dir=data_dir)
    if builder.is_prepared():
        return builder
    manual_dir = manual_dir or os.environ.get(MANUAL_DIR_ENV)
    source_files = sorted(info.filename for info in builder.url_infos.values())
    if manual_dir:
        folder = _manual_folder(name, pathlib.Path(manual_dir).expanduser(), source_files)
        config = tfds.download.DownloadConfig(manual_dir=str(folder))
    else:
        _check_reachable(name, builder, source_files)
        config = None
    builder.download_and_prepare(download_config=config)
    return builder


def _manual_folder(name, folder, source_files):
    """``folder`` or ``folder/name``, whichever holds all of ``source_files``."""
    for candidate in (folder, folder / name):
        if all((candidate / f).is_file() for f in source_files):
            return candidate
    missing = [f for f in source_files if not (folder / f).is_file()]
    raise DatasetUnavailableError(
        f"{name}: the manual folder {folder} lacks {', '.join(missing)}; put tfds's source "
        f"files for {name} there (or in {folder / name}), or drop --manual-dir / "
        f"{MANUAL_DIR_ENV} to let tfds download them")


def _check_reachable(name, builder, source_files, timeout_s=5):
    hosts = {urllib.parse.urlparse(url) for url in builder.url_infos}
    for url in hosts:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((url.hostname, port), timeout=timeout_s).close()
        except OSError as error:
            raise DatasetUnavailableError(
                f"{name} is not prepared in {builder.data_dir} and {url.hostname} cannot be "
                f"reached ({error.strerror or error}); copy its source files "
                f"({', '.join(source_files)}) into a folder and pass --manual-dir FOLDER "
                f"(Python: manual_dir=; or set {MANUAL_DIR_ENV})") from None
