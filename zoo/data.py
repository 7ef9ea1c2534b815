"""tf.data pipelines over tensorflow-datasets: binary images for Bernoulli decoders, grey
levels for the others.

Datasets and their binarization (always explicit, and recorded in every run's config):

- ``binarized_mnist``: Larochelle's fixed ("static") binarization of MNIST, the standard
  VAE benchmark; splits train 50,000 / validation 10,000 / test 10,000.
- ``mnist``, ``fashion_mnist``: grey levels in [0, 1] turned into pixels either
  ``"dynamic"``-ally (each pixel ~ Bernoulli(grey level), redrawn every epoch for training,
  drawn once with a fixed seed for validation and test) or ``"static"``-ally (grey > 0.5),
  or kept as they are with ``"none"``: the 256 grey levels k/255, for the likelihoods of
  grey images (``zoo.models.likelihoods``). Validation is the last 10,000 training images;
  train the first 50,000.
- ``sprites``: dSprites' 737,280 binary 64x64 images of shapes with known factors, drawn
  here (``zoo.sprites``, no download); splits test 10,000 / validation 10,000 / train the
  other 717,280, each a fixed random sample of the factor combinations (its first N a
  random sample too). A ``load`` of more than 50,000 of a split's images (``first``; the
  whole train split) draws the whole dataset once into the tfds data folder (a minute or
  two) and reads it from there after; a load of fewer draws just those, unless the whole
  dataset is already on disk.

Offline use: tfds's manual-download folder (``manual_dir=`` or the ``ZOO_MANUAL_DIR``
environment variable) holding the dataset's source files, the folder itself or a
sub-folder named after the dataset. Without network and without those files, ``load``
fails at once with a message saying which files to provide, instead of tfds's minutes of
retries.
"""

import contextlib
import dataclasses
import os
import pathlib
import socket
import threading
import urllib.parse

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo import sprites
from zoo.errors import (ConfigError, DatasetUnavailableError, DataError, did_you_mean,
                        require_int)

BINARIZATIONS = ("dynamic", "static", "none")  # the first: the default where accepted
# tf.data autotuning, off: its model thread held up the deletion of iterators (fit makes
# one per epoch) by seconds (10.3 s rounds, benchmarks/README.md); with the fixed defaults
# the pipeline still delivers batches far faster than training takes them
# (benchmarks/throughput.py measures both).
AUTOTUNE = False
SPLITS = ("train", "validation", "test")
MANUAL_DIR_ENV = "ZOO_MANUAL_DIR"


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """How a dataset becomes images: its name, its tfds split names (None: not a tfds
    dataset), binarizations (the first is the default), scale to [0, 1], labels and image
    shape. Every function here that takes a dataset takes its name or its DatasetSpec (a
    run resolved once, ``zoo.config.Plan``, hands on the spec)."""

    name: str
    splits: dict
    binarizations: tuple
    scale: float
    labelled: bool
    shape: tuple = (28, 28, 1)


DATASETS = {
    "binarized_mnist": DatasetSpec(
        "binarized_mnist", {"train": "train", "validation": "validation", "test": "test"},
        ("static",), scale=1.0, labelled=False),
    "mnist": DatasetSpec(
        "mnist", {"train": "train[:50000]", "validation": "train[50000:]", "test": "test"},
        BINARIZATIONS, scale=1 / 255, labelled=True),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist",
        {"train": "train[:50000]", "validation": "train[50000:]", "test": "test"}, BINARIZATIONS,
        scale=1 / 255, labelled=True),
    "sprites": DatasetSpec("sprites", None, ("static",), scale=1.0, labelled=False,
                           shape=(sprites.WIDTH, sprites.WIDTH, 1)),
}
# The largest part of sprites drawn for a load without the whole dataset on disk (5 s).
SPRITES_DRAWN_AT_ONCE = 50_000


def spec(name):
    """The DatasetSpec of ``name`` (``name`` itself if it is one), or a DataError listing
    the datasets the zoo knows."""
    if isinstance(name, DatasetSpec):
        return name
    if name not in DATASETS:
        raise DataError(f"unknown dataset '{name}'; {did_you_mean(name, DATASETS)}the zoo "
                        f"reads: {', '.join(DATASETS)}")
    return DATASETS[name]


def binarization_for(dataset, binarization=None, grey=False):
    """The binarization to use for ``dataset``: the given one, checked, or the dataset's
    default (``static`` for binarized_mnist, ``dynamic`` for mnist and fashion_mnist;
    ``none`` keeps grey levels), ``none`` with ``grey`` (a likelihood of grey levels) where
    the dataset has them."""
    dataset = spec(dataset)
    accepted = dataset.binarizations
    if binarization is None:
        return "none" if grey and "none" in accepted else accepted[0]
    if binarization not in accepted:
        raise DataError(f"{dataset.name} accepts binarization {', '.join(accepted)}, "
                        f"not '{binarization}'")
    return binarization


def load(dataset, split, batch_size=128, *, binarization=None, shuffle=None, seed=0,
         labels=False, manual_dir=None, data_dir=None, drop_remainder=False, order_key=None,
         replicas=None, first=None, repeat=False):
    """A ``tf.data.Dataset`` of batches ``(x, x)`` (or ``(x, label)`` with ``labels=True``)
    of ``dataset`` (a name or a DatasetSpec).

    ``x`` is float32 of shape (batch, 28, 28, 1) (sprites: 64, 64, 1) with values in {0, 1},
    or the grey levels {0, 1/255, ..., 1} with ``binarization="none"``. ``shuffle``
    defaults to True for the train split. The split's uint8 images are held in memory; each pass
    gathers its batches through one permutation and binarizes whole batches.

    Every pass has a key: its order and dynamic pixels are stateless functions of
    (seed, key). ``order_key``, an integer variable (``train`` passes the optimizer's
    ``iterations``), is read once when iteration starts, and pass p's key is that value
    plus p times the steps of a pass: the step at which the pass begins, so a run resumed
    from a checkpoint sees the data of a run never stopped. Without it, keys come from a
    stream seeded by ``seed``. ``repeat``: pass after pass without end (Keras's
    ``steps_per_epoch`` then ends each epoch); else one pass.

    ``replicas=(first, local, total)``: this input pipeline's replicas, ``local`` of the
    ``total`` replicas in sync, from global replica ``first`` on (what
    ``tf.distribute``'s ``distribute_datasets_from_function`` needs: it calls the function
    once per worker and hands each local replica one whole element in turn). Every batch of
    ``batch_size`` rows (the global batch) then becomes ``local`` elements, replica r's
    being its rows ``rows * r // total`` to ``rows * (r + 1) // total``: contiguous blocks
    in replica order, the last, short batch split as evenly as its rows allow (an empty
    block where there are fewer rows than replicas).

    ``first``: only the split's first ``first`` examples (a quick run, a learning curve;
    None: all of them); more than the split holds is a DataError.
    """
    dataset = spec(dataset)
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}'; {did_you_mean(split, SPLITS)}use one of "
                        f"{', '.join(SPLITS)}")
    if labels and not dataset.labelled:
        with_labels = [each for each, spec_ in DATASETS.items() if spec_.labelled]
        raise DataError(f"{dataset.name} has no class labels, which a conditional model "
                        "(cvae) trains on and the plots and metrics by class need; use a dataset "
                        f"with them: {' or '.join(with_labels)}")
    require_int("batch_size", batch_size)
    first_replica, local, total = replicas or (0, 1, 1)
    if batch_size % total:
        raise ConfigError(f"batch_size {batch_size} does not split over {total} replicas; "
                          f"use a multiple of {total}")
    binarization = binarization_for(dataset, binarization)
    shuffle = split == "train" if shuffle is None else shuffle
    builder = prepared_builder(dataset, manual_dir=manual_dir, data_dir=data_dir)
    examples = _count(dataset, split, builder, first)
    images, labels_ = (tf.constant(array) for array in _in_memory(dataset, split, builder,
                                                                  examples, data_dir))
    scale = dataset.scale
    if binarization == "dynamic" and split != "train":
        # One fixed draw for the whole split, so validation and test numbers do not depend
        # on the batch size or on the run.
        images = _sample_pixels(images, scale, [seed, -1])
        binarization, scale = "static", 1.0

    steps = batches_per_pass(examples, batch_size, drop_remainder)

    def one_pass(key):
        order = (tf.random.experimental.stateless_shuffle(tf.range(examples), [seed, key])
                 if shuffle else tf.range(examples))

        def block(element):  # element: one replica's block of one batch
            step, replica = element // local, first_replica + element % local
            start = step * batch_size
            rows = tf.minimum(tf.constant(batch_size, tf.int64), examples - start)  # last: short
            low, high = rows * replica // total, rows * (replica + 1) // total
            indices = order[start + low:start + high]
            x = tf.gather(images, indices)
            if dataset.splits is None:  # sprites: packed bits
                x = _unpack(x)
            if binarization == "dynamic":  # this block's rows of the whole batch's draw
                x = _sample_pixels(x, scale, [seed, key * steps + step], (low, rows))
            elif binarization == "static":
                x = _threshold(x, scale)
            else:
                x = tf.cast(x, tf.float32) * scale
            return x, tf.gather(labels_, indices)

        return tf.data.Dataset.range(steps * local).map(block,
                                                        num_parallel_calls=tf.data.AUTOTUNE)

    passes = -1 if repeat else 1  # take(-1): all of an endless stream
    if order_key is not None:
        keys = tf.data.Dataset.range(1).map(
            lambda _: tf.cast(order_key.read_value(), tf.int64)).flat_map(
            lambda start: tf.data.Dataset.counter().take(passes).map(
                lambda p: start + p * steps))
    else:
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(passes)
    batches = keys.flat_map(one_pass)
    if not repeat:
        batches = batches.apply(tf.data.experimental.assert_cardinality(steps * local))
    if not labels:
        batches = batches.map(_as_target)
    options = tf.data.Options()  # under a strategy's own distribution: split every batch
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.autotune.enabled = AUTOTUNE
    return batches.prefetch(tf.data.AUTOTUNE).with_options(options)


_SPLITS = {}  # (dataset, split, data dir) -> (uint8 images, int64 labels) read so far
_SPLITS_LOCK = threading.Lock()


def _in_memory(dataset, split, builder, examples, data_dir=None):
    """The first ``examples`` images and labels (-1 for none) of a split as NumPy arrays,
    read through tfds once per process and kept: decoding the 50,000 training images took
    5 to 9 s on the 2-core machine, at every ``load``; a split of 28x28 uint8 images is
    under 50 MB. Sprites: packed bits (``sprites.packed``), drawn (up to
    ``SPRITES_DRAWN_AT_ONCE``) or read from the whole dataset on disk."""
    key = (dataset.name, split, str(builder.data_dir) if builder else str(data_dir))
    with _SPLITS_LOCK:
        held = _SPLITS.get(key)
        if builder is None and (held is None or len(held[0]) < examples):
            indices = sprites.split_indices(split)[:examples]
            if (examples > SPRITES_DRAWN_AT_ONCE
                    or (sprites.data_folder(data_dir) / "images.npy").is_file()):
                everything = sprites.images(data_dir, lock=one_process_at_a_time)
                order = np.argsort(indices)  # the memory map read in its own order
                bits = np.empty([len(indices), *everything.shape[1:]], np.uint8)
                bits[order] = everything[indices[order]]
            else:
                bits = sprites.packed(sprites.render(sprites.factors_of(indices)))
            held = _SPLITS[key] = (bits, np.full([examples], -1, np.int64))
        elif held is None or len(held[0]) < examples:
            # tfds caches a small split in memory as it reads it; the first ``examples``
            # of it would leave that cache unfinished (TensorFlow warned "the calling
            # iterator did not fully read the dataset being cached" at every such load).
            split_data = builder.as_dataset(
                split=dataset.splits[split], shuffle_files=False,
                read_config=tfds.ReadConfig(try_autocache=False)).take(examples)
            everything = split_data.batch(examples).get_single_element()
            labels = (everything["label"].numpy() if "label" in everything
                      else np.full([examples], -1, np.int64))
            held = _SPLITS[key] = (everything["image"].numpy(), labels)
    return held[0][:examples], held[1][:examples]


def batches_per_pass(examples, batch_size, drop_remainder=False):
    """How many batches one pass over ``examples`` makes (the steps of an epoch)."""
    return examples // batch_size if drop_remainder else -(-examples // batch_size)


def examples_in(dataset, split, manual_dir=None, data_dir=None, first=None, setting="first"):
    """The number of examples in a split of ``dataset`` (a name or a DatasetSpec; preparing
    it if needed): all of them, or ``first``, checked against them (``setting``: its name
    in the error)."""
    dataset = spec(dataset)
    return _count(dataset, split, prepared_builder(dataset, manual_dir=manual_dir,
                                                   data_dir=data_dir), first, setting)


def _count(dataset, split, builder, first, setting="first"):
    available = (len(sprites.split_indices(split)) if builder is None
                 else builder.info.splits[dataset.splits[split]].num_examples)
    if first is None:
        return available
    require_int(setting, first)
    if first > available:
        raise DataError(f"{setting}={first} is more than the {available} examples of "
                        f"{dataset.name}'s {split} split; use at most {available}")
    return first


def _as_target(x, label):
    del label
    return x, x


def _unpack(bits):
    """Packed bits (batch, 64, 8), 8 pixels a byte, highest bit first, as uint8 images
    (batch, 64, 64, 1) of 0 and 1."""
    shifts = tf.constant([7, 6, 5, 4, 3, 2, 1, 0], tf.uint8)
    pixels = tf.bitwise.bitwise_and(tf.bitwise.right_shift(bits[..., None], shifts), 1)
    return tf.reshape(pixels, [-1, sprites.WIDTH, sprites.WIDTH, 1])


def _threshold(images, scale):
    """Binary pixels by threshold: grey level > 0.5 (exact for already-binary data)."""
    return tf.cast(tf.cast(images, tf.float32) * scale > 0.5, tf.float32)


def _sample_pixels(images, scale, seed, rows_of=None):
    """Binary pixels ~ Bernoulli(grey level), a stateless draw seeded by ``seed``. With
    ``rows_of=(low, rows)`` the images are rows ``low``, ``low + 1``, ... of a batch of
    ``rows``, and get those rows of that batch's draw: a replica's block of a global batch
    has the pixels one device draws for the whole batch."""
    grey = tf.cast(images, tf.float32) * scale
    shape = tf.shape(grey, out_type=tf.int64)
    low, rows = rows_of or (0, shape[0])
    uniform = tf.random.stateless_uniform(tf.concat([[rows], shape[1:]], 0),
                                          seed=tf.cast(seed, tf.int64))
    return tf.cast(uniform[low:low + shape[0]] < grey, tf.float32)


def prepared_builder(dataset, manual_dir=None, data_dir=None):
    """A tfds builder of ``dataset`` (a name or a DatasetSpec) whose data are prepared:
    already, from the manual folder, or by tfds's download, which is tried only when the
    source host answers. None for sprites, which is drawn, not read through tfds."""
    dataset = spec(dataset)
    if dataset.splits is None:
        return None
    name = dataset.name
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
    with one_process_at_a_time(builder.data_dir):
        builder = tfds.builder(name, data_dir=data_dir)  # prepared meanwhile by another?
        if not builder.is_prepared():
            builder.download_and_prepare(download_config=config)
    return builder


@contextlib.contextmanager
def one_process_at_a_time(dataset_version_dir):
    """An exclusive lock on ``.zoo-prepare.lock`` beside the dataset's version folder, while
    one process prepares it: two that prepare one dataset at once (two workers on one
    machine, say) both write it and race to tfds's final rename, which one loses. Local
    folders on systems with ``fcntl``; elsewhere no lock."""
    if fcntl is None or "://" in str(dataset_version_dir):
        yield
        return
    folder = pathlib.Path(str(dataset_version_dir)).parent
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".zoo-prepare.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes, or the process dies
        yield


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
