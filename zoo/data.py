"""tf.data pipelines over the datasets of ``zoo.datasets`` (the four the zoo names, any tfds
image dataset, folders of images): binary images for Bernoulli decoders, grey or colour
levels for the others. ``load`` takes a dataset's name or its ``DatasetSpec``.

Each split's uint8 images are read once per process and held in memory (sprites' whole
train split as packed bits on disk: ``zoo.sprites``); every pass gathers its batches
through one permutation, a stateless function of the seed and the pass's key, so a
resumed run sees the data of one never stopped. A tfds split larger than
``zoo.datasets.IN_MEMORY_BYTES`` streams from tfds's files instead, each pass in its stored
order shuffled within windows of ``STREAM_WINDOW_BYTES`` (tfds shuffled the examples once,
when it wrote them), again a stateless function of the seed and the pass's key.
"""

import threading

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo import datasets, sprites
from zoo.datasets import (DATASETS, SPLITS, binarization_for, folder_split,
                          one_process_at_a_time, prepared_builder, spec)
from zoo.errors import ConfigError, DataError, did_you_mean, require_int

# tf.data autotuning, off: its model thread held up the deletion of iterators (fit makes
# one per epoch) by seconds (10.3 s rounds, benchmarks/README.md); with the fixed defaults
# the pipeline still delivers batches far faster than training takes them
# (benchmarks/throughput.py measures both).
AUTOTUNE = False


# The largest part of sprites drawn for a load without the whole dataset on disk (5 s).
SPRITES_DRAWN_AT_ONCE = 50_000
# The images a streamed pass shuffles at once (``_window_shuffled``), in bytes.
STREAM_WINDOW_BYTES = 256 * 2**20


def load(dataset, split, batch_size=128, *, binarization=None, shuffle=None, seed=0,
         labels=False, manual_dir=None, data_dir=None, drop_remainder=False, order_key=None,
         replicas=None, first=None, repeat=False, image_size=None):
    """A ``tf.data.Dataset`` of batches ``(x, x)`` (or ``(x, label)`` with ``labels=True``)
    of ``dataset``: a name (``zoo.datasets``: a named dataset, a tfds dataset, a folder of
    images; ``image_size`` (H, W) resizes its images) or a DatasetSpec.

    ``x`` is float32 of shape (batch, height, width, channels) (mnist: 28, 28, 1; sprites:
    64, 64, 1) with values in {0, 1}, or the levels {0, 1/255, ..., 1} with
    ``binarization="none"``. ``shuffle`` defaults to True for the train split. The split's
    uint8 images are held in memory, each pass gathering its batches through one
    permutation, or (a tfds split above ``zoo.datasets.IN_MEMORY_BYTES``: ``streams``)
    streamed, each pass shuffled within windows; whole batches are binarized.

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
    dataset = spec(dataset, image_size, manual_dir, data_dir)
    if split not in SPLITS:
        raise DataError(f"unknown split '{split}'; {did_you_mean(split, SPLITS)}use one of "
                        f"{', '.join(SPLITS)}")
    if labels and not dataset.labelled:
        with_labels = [each for each, spec_ in DATASETS.items() if spec_.labelled]
        raise DataError(f"{dataset.name} has no class labels, which a conditional model "
                        "(cvae) trains on and the plots and metrics by class need; use a "
                        f"dataset with them: {' or '.join(with_labels)}, a tfds dataset with "
                        "a class label, or a folder with a subfolder per class")
    require_int("batch_size", batch_size)
    first_replica, local, total = replicas or (0, 1, 1)
    if batch_size % total:
        raise ConfigError(f"batch_size {batch_size} does not split over {total} replicas; "
                          f"use a multiple of {total}")
    binarization = binarization_for(dataset, binarization)
    shuffle = split == "train" if shuffle is None else shuffle
    builder = prepared_builder(dataset, manual_dir=manual_dir, data_dir=data_dir)
    examples = _count(dataset, split, builder, first)
    steps = batches_per_pass(examples, batch_size, drop_remainder)
    scale = dataset.scale
    streamed = streams(dataset, _count(dataset, split, builder, None))  # the whole split's
    if streamed:
        records = _records(dataset, split, builder, examples)
    else:
        images, labels_ = (tf.constant(array) for array in _in_memory(dataset, split, builder,
                                                                      examples, data_dir))
    if binarization == "dynamic" and split != "train":
        # One fixed draw for the whole split, so validation and test numbers do not depend
        # on the batch size or on the run (streamed: each image its own draw).
        if streamed:
            records = records.enumerate().map(
                lambda i, record, scale=scale: (tf.ensure_shape(_sample_pixels(
                    record[0][None], scale, [seed, -1 - i])[0], dataset.shape), record[1]),
                num_parallel_calls=tf.data.AUTOTUNE)
        else:
            images = _sample_pixels(images, scale, [seed, -1])
        binarization, scale = "static", 1.0

    def pixels(x, key, step, low, rows):
        """Rows ``low`` on of the batch of ``rows`` that pass ``key`` makes at ``step``."""
        if dataset.source == "sprites":  # packed bits
            x = _unpack(x)
        if binarization == "dynamic":  # this block's rows of the whole batch's draw
            return _sample_pixels(x, scale, [seed, key * steps + step], (low, rows))
        if binarization == "static":
            return _threshold(x, scale)
        return tf.cast(x, tf.float32) * scale

    def block_rows(rows, replica):
        return rows * replica // total, rows * (replica + 1) // total

    def one_pass(key):  # in memory: each replica gathers its block of every batch
        order = (tf.random.experimental.stateless_shuffle(tf.range(examples), [seed, key])
                 if shuffle else tf.range(examples))

        def block(element):  # element: one replica's block of one batch
            step, replica = element // local, first_replica + element % local
            start = step * batch_size
            rows = tf.minimum(tf.constant(batch_size, tf.int64), examples - start)  # last: short
            low, high = block_rows(rows, replica)
            indices = order[start + low:start + high]
            return (pixels(tf.gather(images, indices), key, step, low, rows),
                    tf.gather(labels_, indices))

        return tf.data.Dataset.range(steps * local).map(block,
                                                        num_parallel_calls=tf.data.AUTOTUNE)

    def streamed_pass(key):  # every global batch read, each local replica given its block
        def blocks(step, batch):
            x, y = batch
            rows = tf.shape(y, out_type=tf.int64)[0]

            def block(replica):
                low, high = block_rows(rows, first_replica + replica)
                return pixels(x[low:high], key, step, low, rows), y[low:high]

            return tf.data.Dataset.range(local).map(block)

        stream = _window_shuffled(records, seed, key) if shuffle else records
        return stream.batch(batch_size, drop_remainder).enumerate().flat_map(blocks)

    passes = -1 if repeat else 1  # take(-1): all of an endless stream
    if order_key is not None:
        keys = tf.data.Dataset.range(1).map(
            lambda _: tf.cast(order_key.read_value(), tf.int64)).flat_map(
            lambda start: tf.data.Dataset.counter().take(passes).map(
                lambda p: start + p * steps))
    else:
        keys = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).take(passes)
    batches = keys.flat_map(streamed_pass if streamed else one_pass)
    if not repeat:
        batches = batches.apply(tf.data.experimental.assert_cardinality(steps * local))
    if not labels:
        batches = batches.map(_as_target)
    options = tf.data.Options()  # under a strategy's own distribution: split every batch
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    options.autotune.enabled = AUTOTUNE
    return batches.prefetch(tf.data.AUTOTUNE).with_options(options)


_SPLITS = {}  # (dataset, image size, split, data dir) -> (uint8 images, int64 labels)
_SPLITS_LOCK = threading.Lock()


def _in_memory(dataset, split, builder, examples, data_dir=None):
    """The first ``examples`` images and labels (-1 for none) of a split as NumPy arrays,
    read once per process and kept: decoding the 50,000 training images of mnist took 5 to
    9 s on the 2-core machine, at every ``load``; a split of 28x28 uint8 images is under 50
    MB (``zoo.datasets.IN_MEMORY_BYTES`` at most). tfds datasets: read through tfds and
    resized to the spec's ``image_size`` where it has one; folders: as
    ``zoo.datasets`` read them; sprites: packed bits (``sprites.packed``), drawn (up to
    ``SPRITES_DRAWN_AT_ONCE``) or read from the whole dataset on disk."""
    if dataset.source == "folder":
        images, labels = folder_split(dataset, split)
        return images[:examples], labels[:examples]
    key = (dataset.name, dataset.image_size, split,
           str(builder.data_dir) if builder else str(data_dir))
    with _SPLITS_LOCK:
        held = _SPLITS.get(key)
        if held is None or len(held[0]) < examples:
            if dataset.source == "sprites":
                held = (_sprites_bits(split, examples, data_dir),
                        np.full([examples], -1, np.int64))
            else:
                held = _read_tfds(dataset, split, builder, examples)
            _SPLITS[key] = held
    return held[0][:examples], held[1][:examples]


def _sprites_bits(split, examples, data_dir):
    """The first ``examples`` images of a sprites split as packed bits."""
    indices = sprites.split_indices(split)[:examples]
    if (examples > SPRITES_DRAWN_AT_ONCE
            or (sprites.data_folder(data_dir) / "images.npy").is_file()):
        everything = sprites.images(data_dir, lock=one_process_at_a_time)
        order = np.argsort(indices)  # the memory map read in its own order
        bits = np.empty([len(indices), *everything.shape[1:]], np.uint8)
        bits[order] = everything[indices[order]]
        return bits
    return sprites.packed(sprites.render(sprites.factors_of(indices)))


def streams(dataset, examples):
    """Whether ``load`` streams a split of ``examples`` images of ``dataset`` (a DatasetSpec)
    from tfds's files rather than hold them in memory: a tfds split of more than
    ``zoo.datasets.IN_MEMORY_BYTES`` of (resized) uint8 images. Decided on the whole split,
    so that its first N images are the same pixels in a quick run as in a whole one."""
    return (dataset.source == "tfds"
            and examples * int(np.prod(dataset.shape)) > datasets.IN_MEMORY_BYTES)


def _records(dataset, split, builder, examples):
    """The first ``examples`` (uint8 image, int64 label (-1 for none)) of a tfds split, in
    its stored order, resized to the spec's ``image_size`` (centre-cropped to its aspect
    ratio, bilinear, rounded to uint8)."""
    import tf_keras

    # tfds caches a small split in memory as it reads it; the first ``examples`` of it
    # would leave that cache unfinished (TensorFlow warned "the calling iterator did not
    # fully read the dataset being cached" at every such load).
    records = builder.as_dataset(split=dataset.splits[split], shuffle_files=False,
                                 read_config=tfds.ReadConfig(try_autocache=False))

    def chosen(example):
        image = example[dataset.image_key]
        if dataset.image_size is not None:
            image = tf_keras.preprocessing.image.smart_resize(image, dataset.image_size)
            image = tf.cast(tf.clip_by_value(tf.round(image), 0, 255), tf.uint8)
        label = (tf.cast(example[dataset.label_key], tf.int64) if dataset.labelled
                 else tf.constant(-1, tf.int64))
        return tf.ensure_shape(image, dataset.shape), label

    return records.take(examples).map(chosen, num_parallel_calls=tf.data.AUTOTUNE)


def _read_tfds(dataset, split, builder, examples):
    """The first ``examples`` images and labels of a tfds split (``_records``) as arrays."""
    images = np.empty([examples, *dataset.shape], np.uint8)
    labels = np.empty([examples], np.int64)
    done = 0
    for batch, label in _records(dataset, split, builder,
                                 examples).batch(4096).as_numpy_iterator():
        images[done:done + len(batch)], labels[done:done + len(batch)] = batch, label
        done += len(batch)
    return images, labels


def _window_shuffled(records, seed, key):
    """``records`` in the order of pass ``key``: each window of ``STREAM_WINDOW_BYTES`` of
    consecutive images (tfds stores a split's examples shuffled once, when it writes them)
    in a permutation that is a stateless function of (seed, key, window)."""
    image = records.element_spec[0]
    image_bytes = int(np.prod(image.shape)) * image.dtype.size
    window = max(1, STREAM_WINDOW_BYTES // image_bytes)
    seed = tf.stack([tf.constant(seed, tf.int64), key])

    def shuffled(index, batch):
        images, labels = batch
        order = tf.random.experimental.stateless_shuffle(
            tf.range(tf.shape(labels)[0]), tf.random.experimental.stateless_fold_in(seed, index))
        return tf.data.Dataset.from_tensor_slices((tf.gather(images, order),
                                                   tf.gather(labels, order)))

    return records.batch(window).enumerate().flat_map(shuffled)


def batches_per_pass(examples, batch_size, drop_remainder=False):
    """How many batches one pass over ``examples`` makes (the steps of an epoch)."""
    return examples // batch_size if drop_remainder else -(-examples // batch_size)


def examples_in(dataset, split, manual_dir=None, data_dir=None, first=None, setting="first"):
    """The number of examples in a split of ``dataset`` (a name or a DatasetSpec; preparing
    it if needed): all of them, or ``first``, checked against them (``setting``: its name
    in the error)."""
    dataset = spec(dataset, manual_dir=manual_dir, data_dir=data_dir)
    return _count(dataset, split, prepared_builder(dataset, manual_dir=manual_dir,
                                                   data_dir=data_dir), first, setting)


def _count(dataset, split, builder, first, setting="first"):
    if dataset.source == "sprites":
        available = len(sprites.split_indices(split))
    elif dataset.source == "folder":
        available = dataset.sizes[split]
    else:
        available = builder.info.splits[dataset.splits[split]].num_examples
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
