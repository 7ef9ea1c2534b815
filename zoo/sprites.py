"""``sprites``: a dSprites-equivalent dataset of 2-d shapes with known generative factors,
drawn on this machine (no download).

dSprites (Matthey et al. 2017) is every combination of five factors, once, in one order:

======================  ======  =========================================================
factor                  values
======================  ======  =========================================================
``shape``               3       square, ellipse, heart
``scale``               6       ``linspace(0.5, 1, 6)``
``orientation``         40      ``linspace(0, 2 pi, 40)`` radians: 0 and 2 pi both, as in
                                the original (its first and last orientations draw the
                                same image)
``pos_x``, ``pos_y``    32      ``linspace(0, 1, 32)`` each
======================  ======  =========================================================

737,280 images of 64x64 binary pixels, indexed as the original is (``pos_y`` fastest, then
``pos_x``, orientation, scale, shape: ``factors_of`` / ``indices_of``). The original's one
colour value (white) is left out, as disentanglement_lib leaves it out of the factors.

How the drawing differs from the original, which was drawn as vector shapes and rasterised
with its own code (its placement rules and heart vertices are not published):

- Pillow's polygon fill rasterises every shape (pixel centres at integer coordinates,
  binary, no anti-aliasing, as the original's pixels are binary).
- A shape of scale s spans ``EXTENT * s`` of the image's width (a square's side, an
  ellipse's long axis, a heart's width); its centre is at
  ``(0.25 + 0.5 * pos) * 64`` pixels in x and in y (y downwards). A shape lies inside
  the image but for the corners of large squares (and a few hearts) turned near 45 degrees
  at an edge position: 20,958 images (2.8%) lose up to 4.4 pixels of a corner. The
  original's sizes and margins were matched by eye, not exactly.
- The ellipse's axes are in the ratio 2:1; the heart is the classic parametric heart
  (x = 16 sin^3 t, y = 13 cos t - 5 cos 2t - 2 cos 3t - cos 4t), tip down, not the
  original's vertex list. Both are 64-vertex polygons.
- Orientation turns the shape counter-clockwise on screen about its centre. As in the
  original, the square repeats every quarter turn and the ellipse every half turn: those
  factor values are not identifiable from the image, a ceiling on any metric.

The whole dataset is drawn once (``images``: 67 s on one core of the 2-core machine the
zoo is developed on) and kept as packed bits (8 pixels a byte: 377 MB) in the tfds data
folder; a few thousand images (``render``, each on a canvas of its own, 0.1 ms an image)
take well under a second, and equal the whole dataset's bit for bit. ``SHA256`` is the
checksum of the packed array this code draws with Pillow 13; another Pillow may round
pixels on a shape's edge otherwise, which ``images`` reports.
"""

import contextlib
import functools
import hashlib
import os
import pathlib
import sys

import numpy as np
from PIL import Image, ImageDraw

from zoo import files

WIDTH = 64
FACTORS = {
    "shape": np.array(["square", "ellipse", "heart"]),
    "scale": np.linspace(0.5, 1, 6),
    "orientation": np.linspace(0, 2 * np.pi, 40),
    "pos_x": np.linspace(0, 1, 32),
    "pos_y": np.linspace(0, 1, 32),
}
FACTOR_SIZES = tuple(len(values) for values in FACTORS.values())
EXAMPLES = int(np.prod(FACTOR_SIZES))  # 737,280
EXTENT = 0.45  # of the width, at scale 1
VERTICES = 64
VERSION = "1.0.0"
SHA256 = "ecc073d0c341458ac4797b5ae7ad22c8ccf14f268473ba03f0cabfa3d6f54391"  # packed bits


def _outline(shape):
    """The outline of ``shape`` at size 1 (its extent), centred on 0, y up: (vertices, 2)."""
    if shape == "square":
        return np.array([[-0.5, -0.5], [0.5, -0.5], [0.5, 0.5], [-0.5, 0.5]])
    t = np.linspace(0, 2 * np.pi, VERTICES, endpoint=False)
    if shape == "ellipse":
        return np.stack([0.5 * np.cos(t), 0.25 * np.sin(t)], 1)
    x = 16 * np.sin(t) ** 3
    y = 13 * np.cos(t) - 5 * np.cos(2 * t) - 2 * np.cos(3 * t) - np.cos(4 * t)
    y -= (y.max() + y.min()) / 2  # centred on its bounding box
    return np.stack([x, y], 1) / (x.max() - x.min())


OUTLINES = [_outline(shape) for shape in FACTORS["shape"]]


def factors_of(indices):
    """The factor indices (n, 5) of images ``indices`` (n,) of the dataset's order."""
    return np.stack(np.unravel_index(np.asarray(indices), FACTOR_SIZES), 1)


def indices_of(factors):
    """The images' indices (n,) of factor indices ``factors`` (n, 5)."""
    return np.ravel_multi_index(tuple(np.asarray(factors).T), FACTOR_SIZES)


SPLIT_SIZES = {"test": 10_000, "validation": 10_000}  # train: the other 717,280


@functools.lru_cache(maxsize=None)
def split_indices(split):
    """The images of ``split`` (train, validation or test), in the split's order: slices of
    one fixed permutation of all images (``np.random.RandomState(0)``, whose stream NumPy
    keeps unchanged across versions), test first, then validation, then train."""
    order = np.random.RandomState(0).permutation(EXAMPLES)
    test, validation = SPLIT_SIZES["test"], SPLIT_SIZES["validation"]
    starts = {"test": (0, test), "validation": (test, test + validation),
              "train": (test + validation, EXAMPLES)}
    start, end = starts[split]
    indices = order[start:end]
    indices.flags.writeable = False
    return indices


def polygons(factors):
    """The outline of each image of ``factors`` (n, 5) in pixel coordinates (pixel centres
    at integers, y down): a list of (vertices, 2) arrays."""
    factors = np.asarray(factors)
    scale = FACTORS["scale"][factors[:, 1]] * EXTENT * WIDTH
    angle = FACTORS["orientation"][factors[:, 2]]
    centre = (0.25 + 0.5 * np.stack([FACTORS["pos_x"][factors[:, 3]],
                                     FACTORS["pos_y"][factors[:, 4]]], 1)) * WIDTH - 0.5
    cos, sin = np.cos(angle), np.sin(angle)
    shapes = []
    for shape, size, c, s, (cx, cy) in zip(factors[:, 0], scale, cos, sin, centre):
        x, y = (OUTLINES[shape] * size).T
        shapes.append(np.stack([cx + x * c - y * s, cy - (x * s + y * c)], 1))  # y down
    return shapes


def render(factors):
    """The images of ``factors`` (n, 5): uint8 (n, 64, 64) of 0 and 1, each drawn on a
    canvas of its own (the same shape drawn at another offset on a larger canvas may round
    an edge pixel otherwise)."""
    factors = np.asarray(factors).reshape(-1, len(FACTOR_SIZES))
    images = np.empty([len(factors), WIDTH, WIDTH], np.uint8)
    for index, outline in enumerate(polygons(factors)):
        canvas = Image.new("L", (WIDTH, WIDTH), 0)
        ImageDraw.Draw(canvas).polygon(outline.ravel().tolist(), fill=1)
        images[index] = np.asarray(canvas)
    return images


def packed(images):
    """Binary images (n, 64, 64) as packed bits (n, 64, 8): 8 pixels a byte."""
    return np.packbits(images.astype(bool), axis=-1)


def unpacked(bits):
    """Packed bits (n, 64, 8) back to uint8 images (n, 64, 64) of 0 and 1."""
    return np.unpackbits(bits, axis=-1)


def data_folder(data_dir=None):
    """Where the drawn dataset is kept: ``sprites/VERSION`` in the tfds data folder
    (``data_dir``, else ``TFDS_DATA_DIR``, else ~/tensorflow_datasets)."""
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or "~/tensorflow_datasets"
    return pathlib.Path(root).expanduser() / "sprites" / VERSION


def images(data_dir=None, verbose=1, lock=contextlib.nullcontext):
    """All 737,280 images as packed bits (737280, 64, 8), in the dataset's order: read from
    the data folder, or drawn and written there first (one process at a time: ``lock``,
    a context manager given the folder)."""
    folder = data_folder(data_dir)
    path = folder / "images.npy"
    if not path.is_file():
        with files.writing(folder):
            folder.mkdir(parents=True, exist_ok=True)
            with lock(folder):
                if not path.is_file():
                    _draw_all(path, verbose)
    return np.load(path, mmap_mode="r")


def _draw_all(path, verbose, block=36864):
    """Draws the dataset ``block`` images at a time (a progress line on stderr with
    ``verbose``) and writes it to ``path`` whole or not at all."""
    bits = np.empty([EXAMPLES, WIDTH, WIDTH // 8], np.uint8)
    for start in range(0, EXAMPLES, block):
        indices = np.arange(start, min(start + block, EXAMPLES))
        bits[indices] = packed(render(factors_of(indices)))
        if verbose:
            print(f"\rdrawing sprites: {indices[-1] + 1:,}/{EXAMPLES:,} images",
                  end="" if indices[-1] + 1 < EXAMPLES else "\n", file=sys.stderr, flush=True)
    checksum = hashlib.sha256(bits.tobytes()).hexdigest()
    if SHA256 and checksum != SHA256:
        print(f"sprites: the drawn images' sha256 {checksum} is not the pinned {SHA256} "
              f"(Pillow {Image.__version__} rounds some edge pixels otherwise); they are "
              "kept, but numbers measured on them may differ slightly from the zoo's",
              file=sys.stderr)
    with files.atomic_path(path) as temporary:
        with open(temporary, "wb") as out:
            np.save(out, bits)
