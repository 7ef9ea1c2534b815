"""The tfds pipelines, offline preparation and the checks on data a model is given."""

import concurrent.futures
import os
import socket
import subprocess
import sys
import urllib.parse

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

import zoo
from zoo import data, datasets, quiet
from zoo.errors import DatasetUnavailableError, DataError


def test_binarized_mnist_yields_binary_image_pairs(load):
    x, y = next(iter(load("binarized_mnist", "validation", 32)))
    assert x.shape == (32, 28, 28, 1) and x.dtype == tf.float32
    assert set(np.unique(x)) == {0.0, 1.0}
    np.testing.assert_array_equal(x, y)


def test_split_sizes_are_the_standard_ones(load):
    sizes = {split: sum(int(x.shape[0]) for x, _ in load("binarized_mnist", split, 1000))
             for split in ("validation", "test")}
    assert sizes == {"validation": 10_000, "test": 10_000}


def test_training_shuffle_is_seeded_and_changes_every_epoch(load):
    def first_batches(seed):
        dataset = load("binarized_mnist", "train", 16, seed=seed)
        return [next(iter(dataset))[0].numpy() for _ in range(2)]  # two epochs

    epoch1, epoch2 = first_batches(seed=3)
    again1, _ = first_batches(seed=3)
    np.testing.assert_array_equal(epoch1, again1)
    assert not np.array_equal(epoch1, epoch2)
    assert not np.array_equal(epoch1, first_batches(seed=4)[0])


def test_the_first_n_examples_are_the_opening_rows_and_train_shuffles_them(load, manual_dir):
    whole = next(iter(load("binarized_mnist", "train", 300, shuffle=False)))[0].numpy()
    first = [x.numpy() for x, _ in load("binarized_mnist", "train", 128, first=300,
                                        shuffle=False)]
    assert [len(x) for x in first] == [128, 128, 44]
    np.testing.assert_array_equal(np.concatenate(first), whole)
    shuffled = np.concatenate([x for x, _ in load("binarized_mnist", "train", 128, first=300)])
    assert not np.array_equal(shuffled, whole)

    def rows(images):  # the images as a sorted list, to compare as multisets
        return sorted(image.tobytes() for image in images)

    assert rows(shuffled) == rows(whole)  # one epoch: the same 300 images, reordered
    assert data.examples_in("binarized_mnist", "train", manual_dir, first=300) == 300


def test_dynamic_binarization_redraws_training_pixels_but_fixes_the_test_set(load):
    train = load("fashion_mnist", "train", 64, shuffle=False)
    first, second = (next(iter(train))[0].numpy() for _ in range(2))
    assert set(np.unique(first)) == {0.0, 1.0}
    assert not np.array_equal(first, second)  # same images, new Bernoulli draw

    # Test pixels: one draw per image, whatever the batch size.
    small = np.concatenate([x for x, _ in load("fashion_mnist", "test", 7).take(10)])
    large = next(iter(load("fashion_mnist", "test", 70)))[0].numpy()
    np.testing.assert_array_equal(small, large)


def test_static_binarization_thresholds_grey_levels(load):
    static = next(iter(load("fashion_mnist", "test", 64, binarization="static")))[0].numpy()
    dynamic = next(iter(load("fashion_mnist", "test", 64)))[0].numpy()
    assert set(np.unique(static)) == {0.0, 1.0}
    # Thresholding keeps fewer pixels on than Bernoulli draws on faint grey (and differs).
    assert not np.array_equal(static, dynamic)


def test_labels_for_labelled_datasets_and_a_clear_error_otherwise(load):
    x, label = next(iter(load("fashion_mnist", "test", 16, labels=True)))
    assert label.dtype == tf.int64 and set(label.numpy()) <= set(range(10))
    with pytest.raises(DataError, match="binarized_mnist has no class labels"):
        load("binarized_mnist", "test", labels=True)


@pytest.mark.parametrize("kwargs, message", [
    ({"name": "mnits"}, "unknown dataset 'mnits'; did you mean 'mnist'\\? the zoo reads: "
                        "binarized_mnist, mnist"),
    ({"split": "valid"}, "unknown split 'valid'; did you mean 'validation'\\? use one of "
                         "train, validation, test"),
    ({"split": "tets"}, "did you mean 'test'\\?"),
    ({"split": "val"}, "unknown split 'val'; did you mean 'validation'\\?"),  # its beginning
    ({"name": "Fashion_MNIST"}, "unknown dataset 'Fashion_MNIST'; did you mean "
                                "'fashion_mnist'\\?"),  # in other case
    ({"binarization": "dynamic"}, "binarized_mnist accepts binarization static, not 'dynamic'"),
    ({"batch_size": 0}, "batch_size must be an int >= 1, got 0"),
    ({"first": 10_001}, "first=10001 is more than the 10000 examples of binarized_mnist's test "
                        "split; use at most 10000"),
    ({"first": 0}, "first must be an int >= 1, got 0"),
])
def test_bad_dataset_arguments_name_the_problem(load, kwargs, message):
    arguments = {"name": "binarized_mnist", "split": "test", **kwargs}
    with pytest.raises(zoo.ZooError, match=message):
        load(arguments.pop("name"), arguments.pop("split"), **arguments)


def test_a_manual_folder_without_the_source_files_fails_at_once(tmp_path):
    """The zoo's own check speaks before tfds starts its download (which retries for
    minutes): no download folder, nothing half-prepared."""
    with pytest.raises(DatasetUnavailableError,
                       match="lacks binarized_mnist_test.amat.*--manual-dir"):
        data.load("binarized_mnist", "test", manual_dir=tmp_path, data_dir=tmp_path / "tfds")
    assert not list(tmp_path.rglob("downloads"))
    assert not list(tmp_path.rglob("*.tfrecord*"))


def test_offline_without_files_fails_fast_and_says_how_to_provide_them(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.MANUAL_DIR_ENV, raising=False)
    host = urllib.parse.urlparse(next(iter(tfds.builder("binarized_mnist").url_infos)))
    try:
        socket.create_connection((host.hostname, host.port or 80), timeout=3).close()
        pytest.skip(f"{host.hostname} answers: tfds would simply download")
    except OSError:
        pass
    with pytest.raises(DatasetUnavailableError,  # the zoo's check, before tfds's download
                       match="cannot be reached.*pass --manual-dir FOLDER"):
        data.load("binarized_mnist", "test", data_dir=tmp_path)
    assert not list(tmp_path.rglob("downloads"))


def test_two_processes_prepare_one_dataset_at_once_from_the_parent_manual_folder(manual_dir,
                                                                                 tmp_path):
    """manual_dir holds binarized_mnist/ and fashion_mnist/; the data dir is fresh, so both
    processes find the source files in the sub-folder, and one prepares while the other
    waits (unlocked, both write the dataset and one loses tfds's final rename)."""
    prepare = ("import sys; from zoo import data; "
               "print(data.examples_in('binarized_mnist', 'test', sys.argv[1], sys.argv[2]))")
    as_zoo_commands = {**os.environ, quiet.LEGACY_KERAS_VARIABLE: "1"}  # quiet.legacy_keras
    processes = [subprocess.Popen([sys.executable, "-c", prepare, manual_dir, tmp_path],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  env=as_zoo_commands) for _ in range(2)]
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # both pipes read as they fill
        outputs = list(pool.map(lambda process: process.communicate(timeout=600), processes))
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, err[-2000:]
        assert out.strip().splitlines()[-1] == "10000"  # after tfds's own messages
    x, _ = next(iter(data.load("binarized_mnist", "test", 8, data_dir=tmp_path)))
    assert x.shape == (8, 28, 28, 1)  # prepared, with nothing to prepare from


# Bad data handed to a model: each is one DataError, before any training step.

@pytest.fixture(scope="module")
def model():
    return zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))


@pytest.mark.parametrize("images, message", [
    (np.full((4, 28, 28, 1), 255.0, np.float32), r"values in \[255, 255\]; .*divide uint8"),
    (np.where(np.eye(28)[..., None] > 0, np.nan, 0.5)[None].astype(np.float32),  # NaN alone:
     r"has NaN or infinite values; replace or drop them where the data are made "  # not /255
     r"\(np.isfinite finds them\); scaling does not remove them$"),
    (np.where(np.eye(28)[..., None] > 0, np.nan, 255.0)[None].astype(np.float32),
     r"values in \[255, 255\] and NaN or infinite values; the Bernoulli .*divide uint8 "
     r"images by 255 .*; replace or drop them where the data are made"),
    (np.zeros((4, 28, 28, 1), np.uint8), "dtype uint8; pass float images"),
    (np.zeros((4, 28, 28), np.float32), r"shape \(4, 28, 28\), but the model takes .*28, 28, 1"),
    (np.zeros((4, 32, 32, 1), np.float32), "build the model with input_shape=32,32,1"),
])
def test_bad_arrays_are_refused_with_the_fix(model, images, message):
    for call in (lambda: model.fit(images, images, verbose=0),
                 lambda: model.evaluate(images, images, verbose=0),
                 lambda: zoo.evaluate(model, images, verbose=0)):
        with pytest.raises(DataError, match=message):
            call()


def test_a_dataset_batch_out_of_range_is_one_data_error_not_a_traceback(model, capfd):
    good = np.zeros((8, 28, 28, 1), np.float32)
    bad = np.full((8, 28, 28, 1), 2.0, np.float32)
    dataset = tf.data.Dataset.from_tensor_slices(np.concatenate([good, bad])).batch(8)
    dataset = dataset.map(lambda x: (x, x))
    with pytest.raises(DataError, match=r"training or validation data has a batch with pixel "
                                        "values outside"):
        model.fit(dataset, verbose=0)
    with pytest.raises(DataError, match=r"evaluation data has a batch with pixel values"):
        zoo.evaluate(model, dataset, verbose=0)
    nan = dataset.map(lambda x, y: (x * np.nan, y))  # NaN: not "outside [0, 1]", not /255
    with pytest.raises(DataError, match=r"training or validation data has a batch with NaN "
                                        r"or infinite values; replace or drop them") as error:
        model.fit(nan, verbose=0)
    assert "255" not in str(error.value)
    logged = capfd.readouterr().err  # TensorFlow's log of the failed check, with node names
    assert "assertion failed" not in logged and "[[{{node" not in logged, logged
