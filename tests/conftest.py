"""Shared fixtures: real binarized_mnist / fashion_mnist from the offline tfds source files.

The source files come from ``ZOO_MANUAL_DIR`` or ``../shared/datasets`` beside the
checkout; tfds prepares them once into its data dir (``TFDS_DATA_DIR``; .ci/run points it
into the clone) and reuses them afterwards.
"""

import contextlib
import gc
import importlib.util
import os
import pathlib

import numpy as np
import pytest

if os.environ.get("PYTEST_XDIST_WORKER_COUNT"):
    # The workers share the machine's cores: each test process, and every training process a
    # test starts (they inherit the variables), computes on its share of them. TensorFlow's
    # default, a thread per core in every process, oversubscribes the cores: the same tests
    # took 16-18% less time with a thread each on 2 workers of this 2-core machine.
    CORES = (len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")  # not macOS
             else os.cpu_count() or 1)
    THREADS = str(max(1, CORES // int(os.environ["PYTEST_XDIST_WORKER_COUNT"])))
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", THREADS)
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", THREADS)

# oneDNN's kernels on every x86 CPU, as TensorFlow turns them on by default only on those with
# AVX512_VNNI, AVX512_BF16 or AMX (test_compat.py): the suite then computes alike on the VMs
# it runs on (it was written on an AVX-512 one), and on an AVX2-only VM the small cnn_vae's
# 100 training steps took 2.3 s with them and 4.8 s without, the same tracing (2026-12-07).
# The processes the tests start inherit it; a user's own setting wins.
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

import tensorflow as tf  # noqa: E402  (after the thread counts and oneDNN, read at its start)
import tf_keras  # noqa: E402

from zoo import data, datasets  # noqa: E402
from zoo.models.registry import list_models, unregister  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[1]
MANUAL_DIR = pathlib.Path(os.environ.get(datasets.MANUAL_DIR_ENV,
                                         REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="module", autouse=True)
def _release_models():
    """After each test file: Keras's global state cleared and cyclic garbage collected, so
    that the models a file built do not pile up in a worker (one grew to 15 GB without)."""
    yield
    tf_keras.backend.clear_session()
    gc.collect()


@pytest.fixture(autouse=True)
def _no_strategy_left_entered():
    """Every test leaves the process as it found it: no ``tf.distribute`` strategy entered
    (a test after it would train under it: a conditional model once failed only in some
    groupings of test files), and the process strategy one device (no test splits the CPU
    in this process; strategy_check.py and replica_check.py do it in their own)."""
    yield
    assert not tf.distribute.has_strategy(), "the test left a tf.distribute strategy entered"
    assert len(tf.config.list_logical_devices("CPU")) == 1, "the test split the CPU"


@pytest.fixture(scope="session")
def manual_dir():
    if not (MANUAL_DIR / "binarized_mnist").is_dir():
        pytest.fail(f"the tfds source files are not in {MANUAL_DIR}; set "
                    f"{datasets.MANUAL_DIR_ENV} to the folder holding binarized_mnist/ and "
                    "fashion_mnist/")
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


@contextlib.contextmanager
def functions_run_eagerly():
    """``tf.function``s run op by op inside the block (the setting found is restored): the
    same computation without the seconds of tracing a function that runs once or twice."""
    before = tf.config.functions_run_eagerly()
    tf.config.run_functions_eagerly(True)
    try:
        yield
    finally:
        tf.config.run_functions_eagerly(before)


def benchmark_script(name):
    """``benchmarks/NAME.py`` loaded as a module, to call its ``main`` in this process."""
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def registered_names():
    """A list for the names of the builders a test registers (it appends each name before
    registering); the ones registered are unregistered after the test, pass or fail."""
    names = []
    yield names
    for name in names:
        if name in list_models():
            unregister(name)


# Every file by its seconds of one worker in the suite at 24aff33 (the JUnit report of
# `python -m pytest --junitxml=...`; test_precision.py estimated), longest first: pytest-
# xdist hands each worker whole files in this order (setup.cfg's --no-loadscope-reorder;
# by default it orders them by their number of tests), and a long file drawn last would
# leave the other worker idle while it runs. A file not listed runs last.
LONGEST_FIRST = ("test_mirrored.py", "test_own_data.py", "test_families.py", "test_resume.py",
                 "test_saving.py", "test_generation.py", "test_distribute.py", "test_tune.py",
                 "test_export.py", "test_damage.py", "test_readme.py", "test_train.py",
                 "test_models.py",
                 "test_pretrained.py", "test_data.py", "test_plugins.py", "test_likelihoods.py",
                 "test_tuners.py", "test_bench.py", "test_precision.py",
                 "test_disentanglement.py", "test_throughput.py", "test_plot.py", "test_cli.py",
                 "test_evaluate.py", "test_registry.py", "test_sources.py",
                 "test_conditional.py", "test_objectives.py", "test_step_profile.py",
                 "test_style.py", "test_compat.py", "test_sample_quality.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file keeps its tests' order
