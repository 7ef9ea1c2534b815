"""Shared fixtures: real binarized_mnist / fashion_mnist from the offline tfds source files.

The source files come from ``ZOO_MANUAL_DIR`` or ``../shared/datasets`` beside the
checkout; tfds prepares them once into its data dir (``TFDS_DATA_DIR``; .ci/run points it
into the clone) and reuses them afterwards.
"""

import os
import pathlib

import numpy as np
import pytest

from zoo import data

REPO = pathlib.Path(__file__).resolve().parents[1]
MANUAL_DIR = pathlib.Path(os.environ.get(data.MANUAL_DIR_ENV, REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def manual_dir():
    if not (MANUAL_DIR / "binarized_mnist").is_dir():
        pytest.fail(f"the tfds source files are not in {MANUAL_DIR}; set {data.MANUAL_DIR_ENV} "
                    "to the folder holding binarized_mnist/ and fashion_mnist/")
    return MANUAL_DIR


@pytest.fixture(scope="session")
def load(manual_dir):
    """``data.load`` reading the offline source files."""

    def load_split(name, split, batch_size=128, **kwargs):
        return data.load(name, split, batch_size, manual_dir=manual_dir, **kwargs)

    return load_split


@pytest.fixture(scope="session")
def test_images(load):
    """The first 512 images of binarized_mnist's test split, float32 (512, 28, 28, 1)."""
    return np.concatenate([x for x, _ in load("binarized_mnist", "test", 256).take(2)])


def as_batch(model, images):
    """What ``model`` takes for ``images``: the images, or, for a conditional model,
    ``(images, labels)`` with labels 0, 1, ..., cycling over its classes."""
    if not model.conditional:
        return images
    return images, np.arange(len(images)) % model.classes
