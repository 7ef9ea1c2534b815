"""What a dataset is: its images' shape and levels, its splits and its labels (a
``DatasetSpec``), for the datasets the zoo names, any tfds dataset with an image feature,
and folders of images. ``zoo.data`` makes the pipelines; this module says what they read.

Named datasets (``DATASETS``; their conventions fixed, behind every leaderboard number):

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
  other 717,280, each a fixed random sample of the factor combinations.

**Any other tfds dataset** by tfds's own name (``cifar10``, ``svhn_cropped``,
``NAME:VERSION``, ``NAME/CONFIG``): its image feature and its class label found in
``info.features`` (the supervised keys first, then the first ``Image`` and the first
``ClassLabel``); its ``train`` split, its ``validation`` (or ``valid``, ``val``) and
``test`` splits where it has them, else carved from the end of train, fixed: the last
``carved(n)`` = min(n // 10, 10,000) examples of train are the validation split (and the
``carved(n)`` before them the test split where test is missing too).

**A folder of images** (a path: PNG, JPEG, BMP or GIF files, one subfolder a class, or
none for no labels), read with Keras's ``image_dataset_from_directory`` (its order: the
classes' subfolders sorted, each one's files sorted). Splits fixed: a permutation of that
order seeded with 0; its first ``carved(n)`` images the test split, the next ``carved(n)``
the validation split, the rest train.

**Levels.** Images whose pixels all take 0 or one other value (0/1, 0/255) are binary: a
Bernoulli decoder's, binarization ``static``. Other uint8 images are 8-bit levels k/255:
grey ones may be binarized as mnist is, colour ones not; for both the default likelihood
is the discretized logistic mixture (log-likelihoods in bits/dim too). A Bernoulli decoder
on 8-bit colour levels is refused (``zoo.config``).

**Sizes.** ``image_size=(H, W)`` (``--image-size H[,W]``) centre-crops every image to the
aspect ratio of H:W, then resizes it bilinearly to H x W (Keras's ``smart_resize``, the
CelebA 64 convention of a centre crop then a resize), rounded back to 8-bit levels. A
folder whose images differ in size, or a tfds dataset whose image feature has no fixed
size, needs it.

A split of up to ``IN_MEMORY_BYTES`` of (resized) uint8 images is read once per process
and held in memory (``zoo.data``); a larger tfds split streams from tfds's files, and a
larger folder is refused in one line naming a smaller ``--image-size``.

Offline use: tfds's manual-download folder (``manual_dir=`` or the ``ZOO_MANUAL_DIR``
environment variable) holding the dataset's source files, the folder itself or a
sub-folder named after the dataset. Without network and without those files, resolving a
dataset fails at once with a message saying what to provide, instead of tfds's minutes of
retries.
"""

import contextlib
import dataclasses
import functools
import io
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

from zoo import sprites
from zoo.errors import DatasetUnavailableError, DataError, did_you_mean

BINARIZATIONS = ("dynamic", "static", "none")  # the first: the default where accepted
SPLITS = ("train", "validation", "test")
MANUAL_DIR_ENV = "ZOO_MANUAL_DIR"
IN_MEMORY_BYTES = 4 * 2**30  # the most a split is held in memory, as uint8 (else: streamed)
FORMATS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")  # Keras's image_dataset_from_directory's
VALIDATION_NAMES = ("validation", "valid", "val")
LEVELS_READ = 256  # the images read to tell binary pixels from 8-bit levels


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """How a dataset becomes images. ``name``: as the run records it (a folder: its absolute
    path); ``source``: ``"tfds"``, ``"folder"`` or ``"sprites"``; ``splits``: each split's
    tfds split (tfds datasets); ``binarizations``: those it accepts (the first the
    default); ``scale``: what turns its stored pixels into [0, 1]; ``labelled``; ``shape``:
    the images' (height, width, channels) as the model sees them; ``image_key`` and
    ``label_key``: the tfds features read; ``class_names``; ``default_likelihood``: the
    likelihood its pixels call for where a run leaves it unset (None: the builder's);
    ``image_size``: the (height, width) every image is resized to (None: as stored);
    ``sizes``: each split's number of images (folders); ``named``: one of DATASETS."""

    name: str
    splits: dict
    binarizations: tuple
    scale: float
    labelled: bool
    shape: tuple = (28, 28, 1)
    source: str = "tfds"
    image_key: str = "image"
    label_key: str = "label"
    class_names: tuple = None
    default_likelihood: str = None
    image_size: tuple = None
    sizes: dict = None
    named: bool = False

    def describe(self):
        """What a run records of its data (metrics.json's ``data``): source, splits, shape,
        keys, classes and resizing."""
        return {"name": self.name, "source": self.source,
                "splits": self.splits or self.sizes, "shape": list(self.shape),
                "image_key": self.image_key if self.source == "tfds" else None,
                "label_key": self.label_key if self.labelled else None,
                "class_names": list(self.class_names or ()),
                "binarizations": list(self.binarizations),
                "resized": (f"centre-cropped to {self.image_size[0]}:{self.image_size[1]} "
                            "and resized bilinearly (smart_resize)") if self.image_size
                else None}


DATASETS = {
    "binarized_mnist": DatasetSpec(
        "binarized_mnist", {"train": "train", "validation": "validation", "test": "test"},
        ("static",), scale=1.0, labelled=False, named=True),
    "mnist": DatasetSpec(
        "mnist", {"train": "train[:50000]", "validation": "train[50000:]", "test": "test"},
        BINARIZATIONS, scale=1 / 255, labelled=True, named=True,
        class_names=tuple("0123456789")),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist",
        {"train": "train[:50000]", "validation": "train[50000:]", "test": "test"}, BINARIZATIONS,
        scale=1 / 255, labelled=True, named=True,
        class_names=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot")),
    "sprites": DatasetSpec("sprites", None, ("static",), scale=1.0, labelled=False,
                           shape=(sprites.WIDTH, sprites.WIDTH, 1), source="sprites",
                           named=True),
}


def spec(name, image_size=None, manual_dir=None, data_dir=None):
    """The DatasetSpec of ``name`` (``name`` itself if it is one): a named dataset, a folder
    of images (a path), or any tfds dataset with an image feature, prepared where needed
    (see the module's docstring), at ``image_size`` (height, width) where given. A one-line
    DataError (or DatasetUnavailableError) for what cannot be read."""
    if isinstance(name, DatasetSpec):
        return name
    size = image_size_of(image_size)
    if name in DATASETS:
        named = DATASETS[name]
        if size is None or size == named.shape[:2]:
            return named
        if named.source == "sprites":
            raise DataError("sprites is drawn at 64x64; it takes no image_size "
                            "(--image-size)")
        return dataclasses.replace(named, shape=(*size, named.shape[2]), image_size=size)
    if not isinstance(name, str) or not name:
        raise DataError(f"a dataset is a name or a folder of images, got {name!r}")
    path = pathlib.Path(name).expanduser()
    if path.exists():
        return _folder_spec(path, size)
    if name.startswith((".", "~", os.sep)):
        raise DataError(f"no folder {name}; pass a folder of images or a dataset's name")
    if name.lower().replace("-", "_") in DATASETS:  # tfds would read Fashion_MNIST as
        raise unknown(name, data_dir)  # fashion_mnist, without the zoo's conventions
    return _tfds_spec(name, size, manual_dir, data_dir)


def short_name(dataset):
    """A dataset's name as part of a file's name: a folder's own name; a tfds name with its
    version or config joined by ``-``."""
    path = pathlib.Path(dataset).expanduser()
    name = path.resolve().name if path.is_dir() else dataset
    return name.replace(":", "-").replace("/", "-") or "data"


def image_size_of(value):
    """``value`` (an int, ``"H,W"``, ``[H, W]`` or None) as a (height, width) tuple, or
    None; a one-line DataError otherwise."""
    if value is None or value == () or value == []:
        return None
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",")]
        try:
            value = [int(part) for part in value]
        except ValueError:
            raise DataError(f"image_size takes H or H,W (positive ints), got "
                            f"{','.join(value)!r}") from None
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value, value]
    if (not isinstance(value, (list, tuple)) or len(value) not in (1, 2) or any(
            not isinstance(v, int) or isinstance(v, bool) or v < 1 for v in value)):
        raise DataError(f"image_size takes H or [H, W] (positive ints), got {value!r}")
    return (value[0], value[-1])


def carved(examples):
    """How many examples a carved validation (or test) split takes of ``examples``."""
    return max(1, min(examples // 10, 10_000))


def binarization_for(dataset, binarization=None, grey=False):
    """The binarization to use for ``dataset``: the given one, checked, or the dataset's
    default (``static`` for binary images, ``dynamic`` for grey ones such as mnist; ``none``
    keeps 8-bit levels, colour's only one), ``none`` with ``grey`` (a likelihood of grey
    levels) where the dataset has them."""
    dataset = spec(dataset)
    accepted = dataset.binarizations
    if binarization is None:
        return "none" if grey and "none" in accepted else accepted[0]
    if binarization not in accepted:
        raise DataError(f"{dataset.name} accepts binarization {', '.join(accepted)}, "
                        f"not '{binarization}'")
    return binarization


def _levels(pixels, channels):
    """``(binarizations, scale, default likelihood)`` of uint8 ``pixels`` (any shape) of
    images of ``channels``: binary where every pixel is 0 or one other value; else 8-bit
    levels (grey: every binarization; colour: none)."""
    values = np.unique(pixels)
    if len(values) <= 2 and values[0] == 0:
        return ("static",), 1.0 / float(values[-1] or 1), None
    return (BINARIZATIONS if channels == 1 else ("none",)), 1 / 255, "logistic_mixture"


def in_memory_check(dataset, split, examples, shape=None):
    """A one-line DataError where ``examples`` images of ``dataset`` (a DatasetSpec, or a
    folder's path with the images' ``shape``) are more than IN_MEMORY_BYTES."""
    name, shape = (dataset.name, dataset.shape) if isinstance(dataset, DatasetSpec) else (
        dataset, shape)
    size = examples * int(np.prod(shape))
    if size > IN_MEMORY_BYTES:
        raise DataError(
            f"{name}'s {split} split is {_bytes(size)} of {'x'.join(map(str, shape))} "
            f"images, more than the {_bytes(IN_MEMORY_BYTES)} the zoo holds in memory; ask "
            "for smaller images (--image-size)")


def _bytes(count):
    """``count`` bytes in the largest unit that leaves at least 1 of it (GiB at most)."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count} bytes"


# ---- folders of images


_FOLDERS = {}  # (folder, image size) -> (its files' (path, mtime, size), {split: (uint8
# images, int64 labels)})
_FOLDERS_LOCK = threading.Lock()


def _folder_spec(path, size):
    if not path.is_dir():
        raise DataError(f"{path} is a file; pass a folder of images (one subfolder a class, "
                        "or none) or a dataset's name")
    path = path.resolve()
    files = sorted(p for p in path.rglob("*") if p.suffix.lower() in FORMATS and p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(path).parts))
    if not files:
        raise DataError(f"{path} holds no images ({', '.join(FORMATS)}); put them in it, one "
                        "subfolder a class or none")
    classes = sorted(p.name for p in path.iterdir()  # Keras's: its visible subfolders
                     if p.is_dir() and not p.name.startswith("."))
    if classes and any(p.parent == path for p in files):
        raise DataError(f"{path} holds images both at its top and in subfolders; put each "
                        "class in a subfolder, or every image in the folder itself")
    empty = [name for name in classes
             if not any(p.relative_to(path).parts[0] == name for p in files)]
    if empty:
        raise DataError(f"{path / empty[0]} holds no images, and every subfolder is a class; "
                        "put its images in it, or remove it")
    if len(files) < 3:
        raise DataError(f"{path} holds {len(files)} image(s); the zoo splits a folder into "
                        "train, validation and test and needs at least 3")
    sizes, modes = _headers(files)
    if size is None:
        if len(sizes) > 1:
            shown = " and ".join(f"{h}x{w}" for h, w in sorted(sizes)[:2])
            raise DataError(f"{path}'s images have {len(sizes)} sizes (e.g. {shown}); pass "
                            "--image-size H[,W] (Python: image_size=) to resize them")
        size, resize = next(iter(sizes)), None
    else:
        resize = size
    channels = 1 if modes <= {"1", "L", "LA", "I", "I;16", "F"} else 3
    in_memory_check(str(path), "whole", len(files), (*size, channels))
    key = (str(path), size)
    stamp = [(str(file), status.st_mtime_ns, status.st_size)
             for file, status in ((file, file.stat()) for file in files)]
    with _FOLDERS_LOCK:
        if key not in _FOLDERS or _FOLDERS[key][0] != stamp:  # new, or its files changed
            _FOLDERS[key] = stamp, _read_folder(path, classes, size, channels)
    held = _FOLDERS[key][1]
    binarizations, scale, likelihood = _levels(held["train"][0][:LEVELS_READ], channels)
    return DatasetSpec(str(path), None, binarizations, scale, labelled=bool(classes),
                       shape=(*size, channels), source="folder",
                       class_names=tuple(classes) or None, default_likelihood=likelihood,
                       image_size=resize, sizes={split: len(held[split][0])
                                                 for split in SPLITS})


def _headers(files):
    """The (height, width) sizes and the PIL modes of ``files``, read from their headers."""
    from PIL import Image

    sizes, modes = set(), set()
    for file in files:
        try:
            with Image.open(file) as image:
                sizes.add((image.height, image.width))
                modes.add(image.mode)
        except OSError as error:
            raise DataError(f"{file} is not an image the zoo can read ({error})") from None
    return sizes, modes


def _read_folder(path, classes, size, channels):
    """Every image of ``path`` as uint8 (Keras's image_dataset_from_directory: its order,
    centre-cropped to the aspect ratio of ``size`` and resized to it), with its class
    (-1 without subfolders), split by a permutation seeded with 0 (the module's
    docstring): ``{split: (images, labels)}``."""
    import tf_keras

    with contextlib.redirect_stdout(io.StringIO()):  # "Found N files belonging to K classes."
        read = tf_keras.utils.image_dataset_from_directory(
            str(path), labels="inferred" if classes else None,
            label_mode="int" if classes else None, class_names=classes or None,
            color_mode="grayscale" if channels == 1 else "rgb", batch_size=None,
            image_size=size, shuffle=False, crop_to_aspect_ratio=True)
    images, labels = [], []
    for element in read.batch(256).as_numpy_iterator():
        batch, label = element if classes else (element, np.full(len(element), -1))
        images.append(np.clip(np.round(batch), 0, 255).astype(np.uint8))
        labels.append(np.asarray(label, np.int64))
    images, labels = np.concatenate(images), np.concatenate(labels)
    order = np.random.default_rng(0).permutation(len(images))
    part = carved(len(images))
    chosen = {"test": order[:part], "validation": order[part:2 * part],
              "train": order[2 * part:]}
    return {split: (images[indices], labels[indices]) for split, indices in chosen.items()}


def folder_split(dataset, split):
    """The uint8 images and labels of ``split`` of the folder ``dataset`` (a DatasetSpec)."""
    key = (dataset.name, dataset.shape[:2])
    if key not in _FOLDERS:  # resolved in another process (a run's record): read it here
        fresh = _folder_spec(pathlib.Path(dataset.name), dataset.image_size)
        if fresh.shape != dataset.shape:
            raise DataError(f"{dataset.name} changed: its images are now "
                            f"{'x'.join(map(str, fresh.shape))}")
    held = _FOLDERS[key][1]
    if {each: len(held[each][0]) for each in SPLITS} != dataset.sizes:
        raise DataError(f"{dataset.name} changed since it was read (its splits now hold "
                        f"{', '.join(str(len(held[each][0])) for each in SPLITS)} images); "
                        "read it again (zoo.datasets.spec)")
    return held[split]


# ---- tfds datasets


def _tfds_spec(name, size, manual_dir, data_dir):
    import tensorflow_datasets as tfds

    builder = prepared_builder(name, manual_dir=manual_dir, data_dir=data_dir)
    features = builder.info.features
    images = [key for key, feature in features.items()
              if isinstance(feature, tfds.features.Image)]
    if not images:
        raise DataError(f"{name} has no image feature (its features: "
                        f"{', '.join(features.keys())}); the zoo trains on images")
    supervised = builder.info.supervised_keys or ()
    supervised = supervised if isinstance(supervised, (tuple, list)) else ()
    image_key = supervised[0] if supervised and supervised[0] in images else images[0]
    labels = [key for key, feature in features.items()
              if isinstance(feature, tfds.features.ClassLabel)]
    label_key = (supervised[1] if len(supervised) > 1 and supervised[1] in labels
                 else labels[0] if labels else None)
    feature = features[image_key]
    if np.dtype(feature.np_dtype) != np.uint8:
        raise DataError(f"{name}'s images ({image_key}) are {np.dtype(feature.np_dtype)}; "
                        "the zoo reads 8-bit images")
    height, width, channels = feature.shape
    if size is None and (height is None or width is None):
        raise DataError(f"{name}'s images ({image_key}) differ in size; pass --image-size "
                        "H[,W] (Python: image_size=) to resize them")
    splits = _tfds_splits(name, builder.info.splits)
    first = [np.asarray(example[image_key]) for example in builder.as_dataset(
        split=splits["train"], shuffle_files=False).take(LEVELS_READ)]  # (sizes may differ)
    channels = channels or (first[0].shape[-1] if first else 1)
    binarizations, scale, likelihood = _levels(
        np.concatenate([image.ravel() for image in first] or [np.zeros(1, np.uint8)]), channels)
    shape = (*(size or (height, width)), channels)
    return DatasetSpec(name, splits, binarizations, scale, labelled=label_key is not None,
                       shape=shape, image_key=image_key, label_key=label_key,
                       class_names=tuple(features[label_key].names) if label_key else None,
                       default_likelihood=likelihood,
                       image_size=size if size and size != (height, width) else None)


def _tfds_splits(name, splits):
    """Each of SPLITS as a tfds split of ``splits`` (a tfds SplitDict): its own where it has
    one (validation: also ``valid`` or ``val``), else carved from the end of train."""
    if "train" not in splits:
        raise DataError(f"{name} has no train split (it has {', '.join(splits)}); the zoo "
                        "trains on train")
    validation = next((each for each in VALIDATION_NAMES if each in splits), None)
    test = "test" if "test" in splits else None
    total = splits["train"].num_examples
    part = carved(total)
    carve = [each for each, own in (("test", test), ("validation", validation)) if own is None]
    end = total - part * len(carve)
    if end < 1:
        raise DataError(f"{name}'s train split has {total} examples: too few to carve "
                        f"{' and '.join(carve)} from")
    chosen = {"train": f"train[:{end}]" if carve else "train", "validation": validation,
              "test": test}
    for offset, each in enumerate(carve):
        low = end + offset * part
        chosen[each] = f"train[{low}:{low + part}]"
    return chosen


def prepared_builder(dataset, manual_dir=None, data_dir=None):
    """A tfds builder of ``dataset`` (a tfds name, or a DatasetSpec) whose data are
    prepared: already, from the manual folder, or by tfds's download, which is tried only
    when the source host answers. None for sprites and folders, not read through tfds."""
    import tensorflow_datasets as tfds

    if isinstance(dataset, DatasetSpec):
        if dataset.source != "tfds":
            return None
        dataset = dataset.name
    name = dataset
    builder, prepared = _builder(name, data_dir)
    if prepared:
        return builder
    manual_dir = manual_dir or os.environ.get(MANUAL_DIR_ENV)
    source_files = sorted(info.filename for info in (builder.url_infos or {}).values())
    if manual_dir:
        folder = _manual_folder(name, pathlib.Path(manual_dir).expanduser(), source_files)
        config = tfds.download.DownloadConfig(manual_dir=str(folder))
    else:
        _check_reachable(name, builder, source_files)
        config = None
    with one_process_at_a_time(builder.data_dir):
        builder, prepared = _builder(name, data_dir)  # prepared meanwhile by another?
        if not prepared:
            builder.download_and_prepare(download_config=config)
    return builder


def _builder(name, data_dir):
    """``(tfds.builder(name), whether its data are prepared)``, or a one-line DataError for a
    name tfds does not know (tfds's own notes while it looks, "Variant folder ... has no
    dataset_info.json", left out)."""
    import tensorflow_datasets as tfds
    from absl import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity(logging.ERROR)
    try:
        builder = tfds.builder(name, data_dir=data_dir)
        return builder, builder.is_prepared()
    except (tfds.core.registered.DatasetNotFoundError, ValueError):  # (ValueError: a name
        raise unknown(name, data_dir) from None  # tfds cannot parse, an unknown config)
    finally:
        logging.set_verbosity(verbosity)


def unknown(name, data_dir=None):
    """The one-line DataError of a dataset name the zoo cannot read, with the closest."""
    hint = did_you_mean(name.split(":")[0].split("/")[0], [*DATASETS, *_tfds_names()])
    return DataError(f"unknown dataset '{name}'; {hint}the zoo reads: "
                     f"{', '.join(DATASETS)}, any tfds dataset with an image feature by its "
                     f"name (none called that in tfds's catalog or "
                     f"{data_dir or 'the default data dir'}: one of your own, pass --data-dir "
                     "where it is prepared), and folders of images")


@functools.lru_cache(maxsize=1)
def _tfds_names():
    import tensorflow_datasets as tfds

    return tuple(tfds.list_builders(with_community_datasets=False))


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
    """A one-line DatasetUnavailableError unless the hosts ``name`` downloads from answer
    (tfds's own mirror where its sources are not listed)."""
    hosts = {urllib.parse.urlparse(url) for url in (builder.url_infos or {})} or {
        urllib.parse.urlparse("https://storage.googleapis.com")}
    for url in hosts:
        port = url.port or (443 if url.scheme == "https" else 80)
        try:
            socket.create_connection((url.hostname, port), timeout=timeout_s).close()
        except OSError as error:
            manual = (f", or copy its source files ({', '.join(source_files)}) into a folder "
                      f"and pass --manual-dir FOLDER (Python: manual_dir=; or set "
                      f"{MANUAL_DIR_ENV})") if source_files else ""
            raise DatasetUnavailableError(
                f"{name} is not in {pathlib.Path(str(builder.data_dir)).parent.parent} and "
                f"cannot be downloaded here: {url.hostname} cannot be reached "
                f"({error.strerror or error}); download it once with `tfds build {name}` "
                f"where there is network and pass --data-dir (Python: data_dir=) where it "
                f"is{manual}") from None
