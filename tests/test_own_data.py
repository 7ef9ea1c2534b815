"""Any image data through the entry points: folders of PNGs written here, tfds datasets the
zoo has no entry for (read through tfds's generic path, and one made here with tfds's own
builder API), --image-size, and the one-line refusals. Real files, real tfds and Keras
readers."""

import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow_datasets as tfds
import tf_keras
from PIL import Image

import zoo
from zoo import bench, data, datasets, recipes
from zoo import config as config_module
from zoo.cli import main
from zoo.errors import ConfigError, DatasetUnavailableError, DataError

COLOURS = {"red": (200, 40, 40), "green": (40, 180, 60), "blue": (50, 60, 210)}
SMALL = ["--set", "filters=8,16", "--set", "latent_dim=4"]


def squares(count, size, colour, seed):
    """``count`` uint8 images (size x size x 3): a square of ``colour`` at a random place
    on a random background colour."""
    rng = np.random.default_rng(seed)
    images = np.empty([count, size, size, 3], np.uint8)
    for image in images:
        image[:] = rng.integers(0, 256, 3)
        side = size // 2
        top, left = rng.integers(0, size - side, 2)
        image[top:top + side, left:left + side] = colour
    return images


def write_pngs(folder, images):
    folder.mkdir(parents=True, exist_ok=True)
    for number, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{number:04d}.png")


@pytest.fixture(scope="module")
def classes_folder(tmp_path_factory):
    """240 colour 32x32 PNGs in three class subfolders."""
    root = tmp_path_factory.mktemp("squares")
    for index, (name, colour) in enumerate(COLOURS.items()):
        write_pngs(root / name, squares(80, 32, colour, index))
    return root


def run_cli(capsys, *argv):
    main([str(part) for part in argv])
    return capsys.readouterr().out


def test_a_folder_of_pngs_through_train_eval_plot_and_tune(classes_folder, tmp_path, capsys):
    out = tmp_path / "run"
    printed = run_cli(capsys, "train", "cnn_vae", "--dataset", classes_folder, "--epochs", 2,
                      "--batch-size", 64, "--deterministic", "--out", out, *SMALL)
    line = next(text for text in printed.splitlines() if text.startswith("test ELBO"))
    assert "24 examples" in line and "in bits per dimension: -ELBO" in printed  # carved(240)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["data"]["splits"] == {"train": 192, "validation": 24, "test": 24}
    assert metrics["data"]["class_names"] == ["blue", "green", "red"]
    assert metrics["data"]["shape"] == [32, 32, 3]
    model = zoo.load(out)
    assert model.zoo_config["overrides"]["likelihood"] == "logistic_mixture"  # the default
    assert tuple(model.image_shape) == (32, 32, 3)  # built for the data, untold
    again = run_cli(capsys, "eval", out)
    assert f"{metrics['test']['elbo_nats']:.2f} nats" in again  # the run's numbers again
    for kind in ("samples", "latent"):
        run_cli(capsys, "plot", kind, out)
        assert (out / f"{kind}.png").stat().st_size > 1000
    searched = run_cli(capsys, "tune", "cnn_vae", "--dataset", classes_folder, "--max-trials",
                       2, "--epochs", 1, "--dir", tmp_path / "tuning", "--range",
                       "latent_dim=2:4")
    assert searched.count("COMPLETED") == 2
    recipe = recipes.load(tmp_path / "tuning" / "cnn_vae-squares0" / "best.toml")
    assert recipe.config.dataset == str(classes_folder)


def test_zoo_train_and_a_recipe_on_a_folder_give_the_cli_s_numbers(classes_folder, tmp_path):
    settings = {"model": "cnn_vae", "dataset": str(classes_folder), "epochs": 1,
                "batch_size": 64, "deterministic": True, "eval_samples": 1,
                "overrides": {"filters": [8, 16], "latent_dim": 4}}
    _, trained = zoo.train(zoo.RunConfig(**settings), tmp_path / "run", verbose=0)
    path = tmp_path / "folder.toml"
    recipes.write(recipes.from_dict("folder", settings), path)
    row = bench.run(path, tmp_path / "benchmarks", verbose=0)
    assert row["test"]["elbo_nats"] == trained["test"]["elbo_nats"]
    assert row["data"]["source"] == "folder"


def test_a_small_dataset_of_its_own_trains_at_keras_s_batch_of_32_by_default(
        classes_folder, monkeypatch):
    """Fewer than 100 batches of 128 an epoch: batches of 32 (README's colour squares);
    the named datasets at 128; either recorded explicitly."""
    folder = zoo.RunConfig(model="cnn_vae", dataset=str(classes_folder)).plan()
    assert folder.config.batch_size == 32 and folder.steps_per_epoch == 192 // 32
    assert zoo.RunConfig(model="cnn_vae").plan().config.batch_size == 128
    assert zoo.RunConfig(model="cnn_vae", dataset=str(classes_folder),
                         batch_size=64).plan().config.batch_size == 64
    monkeypatch.setattr(config_module, "SMALL_DATA_STEPS", 192 // 128)  # 192 images: enough
    assert zoo.RunConfig(model="cnn_vae",
                         dataset=str(classes_folder)).plan().config.batch_size == 128
    assert zoo.RunConfig(model="cnn_vae", dataset=str(classes_folder),  # the images trained
                         train_examples=100).plan().config.batch_size == 32


def test_image_size_resizes_colour_folders_and_a_64x64_folder_trains(tmp_path, capsys):
    wide = tmp_path / "wide"
    write_pngs(wide, squares(30, 48, (250, 250, 0), 5)[:, 8:40])  # 32 x 48
    spec = datasets.spec(str(wide), image_size=(16, 16))
    assert spec.shape == (16, 16, 3) and spec.labelled is False
    batch = next(iter(data.load(spec, "train", 8)))[0].numpy()
    assert batch.shape == (8, 16, 16, 3)
    assert np.allclose(batch * 255, np.round(batch * 255))  # 8-bit levels after resizing
    big = tmp_path / "big"
    write_pngs(big, squares(40, 64, (0, 0, 0), 6))
    printed = run_cli(capsys, "train", "cnn_vae", "--dataset", big, "--epochs", 1,
                      "--out", tmp_path / "run64", *SMALL)
    assert "test ELBO on" in printed
    assert tuple(zoo.load(tmp_path / "run64").image_shape) == (64, 64, 3)
    # another folder at the model's size: zoo eval and zoo plot resize it as zoo train would
    with pytest.raises(SystemExit):
        run_cli(capsys, "eval", tmp_path / "run64", "--dataset", wide)
    assert capsys.readouterr().err.endswith(
        "takes 64x64x3 images, and {} has 32x48x3; pass a dataset of them (--dataset, and "
        "--image-size to resize one)\n".format(wide))
    printed = run_cli(capsys, "eval", tmp_path / "run64", "--dataset", wide, "--image-size", 64)
    assert f"test ELBO on {wide}" in printed
    printed = run_cli(capsys, "plot", "recon", tmp_path / "run64", "--dataset", wide,
                      "--image-size", "64,64", "--out", tmp_path / "wide.png")
    assert f"wrote {tmp_path / 'wide.png'}" in printed and Image.open(tmp_path / "wide.png")


def test_the_generic_tfds_reader_gives_the_named_fashion_mnist_s_batches(manual_dir):
    data.examples_in("fashion_mnist", "test", manual_dir)  # prepared
    named = data.load("fashion_mnist", "test", 500, binarization="none", first=1000)
    generic = data.load("fashion_mnist:3.0.1", "test", 500, binarization="none", first=1000)
    spec = datasets.spec("fashion_mnist:3.0.1")
    assert spec.splits == {"train": "train[:54000]", "validation": "train[54000:60000]",
                           "test": "test"}  # validation carved from train's end: 6,000
    assert spec.default_likelihood == "logistic_mixture"
    assert spec.class_names == datasets.DATASETS["fashion_mnist"].class_names
    for (a, label_a), (b, label_b) in zip(named, generic, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


class ZooTestShapes(tfds.core.GeneratorBasedBuilder):
    """A tfds dataset made here: 100 16x16 colour images of three classes, train only."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "picture": tfds.features.Image(shape=(16, 16, 3)),
            "kind": tfds.features.ClassLabel(names=["a", "b", "c"])}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for number, image in enumerate(squares(100, 16, (255, 255, 255), 7)):
            yield number, {"picture": image, "kind": number % 3}


class ZooTestNoImages(tfds.core.GeneratorBasedBuilder):
    """A tfds dataset without an image feature."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "value": tfds.features.Tensor(shape=(3,), dtype=np.float32)}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for number in range(10):
            yield number, {"value": np.full(3, number, np.float32)}


def test_a_tfds_dataset_the_zoo_does_not_name_is_read_by_name(tmp_path, capsys):
    ZooTestShapes(data_dir=str(tmp_path)).download_and_prepare()
    spec = datasets.spec("zoo_test_shapes", data_dir=str(tmp_path))
    assert (spec.image_key, spec.label_key, spec.shape) == ("picture", "kind", (16, 16, 3))
    assert spec.splits == {"train": "train[:80]", "validation": "train[90:100]",
                           "test": "train[80:90]"}
    labels = np.concatenate([label for _, label in data.load(
        "zoo_test_shapes", "validation", 4, labels=True, data_dir=str(tmp_path))])
    stored = tfds.builder("zoo_test_shapes", data_dir=str(tmp_path)).as_dataset(
        split="train[90:100]", shuffle_files=False)
    assert labels.tolist() == [int(example["kind"]) for example in stored]
    # a fresh process, without the builder's code: tfds reads it from its files
    done = subprocess.run(
        [sys.executable, "-m", "zoo.cli", "train", "mlp_vae", "--dataset", "zoo_test_shapes",
         "--data-dir", str(tmp_path), "--epochs", "1", "--set", "hidden_units=16",
         "--out", str(tmp_path / "run")], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "test ELBO on zoo_test_shapes" in done.stdout
    assert "in bits per dimension: -ELBO" in done.stdout
    # zoo eval and zoo plot read the run's data where its run did, untold
    line = next(text for text in done.stdout.splitlines() if text.startswith("test ELBO"))
    assert line in run_cli(capsys, "eval", tmp_path / "run").splitlines()
    run_cli(capsys, "plot", "latent", tmp_path / "run")
    assert (tmp_path / "run" / "latent.png").is_file()
    recorded = json.loads((tmp_path / "run" / "metrics.json").read_text())["data"]
    assert recorded["read_from"] == {"manual_dir": None, "data_dir": str(tmp_path)}


@pytest.mark.parametrize("dataset, message", [
    ("cifar1O", "unknown dataset 'cifar1O'; did you mean 'cifar10'? the zoo reads"),
    ("./no/such/folder", "no folder ./no/such/folder"),
    ("cifar10", "cifar10 is not in"),  # (offline: tfds's note while it looks, left out)
])
def test_a_dataset_that_cannot_be_read_is_one_line_and_claims_nothing(
        dataset, message, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv(datasets.MANUAL_DIR_ENV, raising=False)  # (CI sets it)
    with pytest.raises(SystemExit):
        main(["train", "mlp_vae", "--dataset", dataset, "--out", str(tmp_path / "run")])
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and message in error
    assert not (tmp_path / "run").exists()


def test_a_tfds_dataset_not_on_disk_is_refused_at_once_without_network(tmp_path, monkeypatch):
    monkeypatch.delenv(datasets.MANUAL_DIR_ENV, raising=False)  # (CI sets it)
    with pytest.raises(DatasetUnavailableError, match="cifar10 is not in .* and cannot be "
                       "downloaded here: .*tfds build cifar10.*--data-dir.*--manual-dir"):
        datasets.spec("cifar10", data_dir=str(tmp_path))


def test_what_a_folder_or_a_dataset_cannot_give_is_refused_in_one_line(tmp_path, monkeypatch):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no images"):
        datasets.spec(str(tmp_path / "empty"))
    write_pngs(tmp_path / "mixed", [*squares(2, 16, (0, 0, 0), 1), *squares(2, 20, (0, 0, 0), 2)])
    with pytest.raises(DataError, match="2 sizes .*pass --image-size"):
        datasets.spec(str(tmp_path / "mixed"))
    assert datasets.spec(str(tmp_path / "mixed"), image_size=12).shape == (12, 12, 3)
    with monkeypatch.context() as patch:  # a folder is held in memory; a larger one refused
        patch.setattr(datasets, "IN_MEMORY_BYTES", 2 * 14 * 14 * 3)
        with pytest.raises(DataError, match=r"mixed's whole split is 2.3 KiB of 14x14x3 "
                           r"images, more than the 1.1 KiB the zoo holds in memory; ask for "
                           r"smaller images \(--image-size\)$"):
            datasets.spec(str(tmp_path / "mixed"), image_size=14)
    ZooTestNoImages(data_dir=str(tmp_path)).download_and_prepare()
    with pytest.raises(DataError, match="zoo_test_no_images has no image feature"):
        datasets.spec("zoo_test_no_images", data_dir=str(tmp_path))
    with pytest.raises(DataError, match="unknown split 'valid'"):
        data.load(str(tmp_path / "mixed"), "valid", image_size=12)
    colour = zoo.RunConfig(model="mlp_vae", dataset=str(tmp_path / "mixed"), image_size=12,
                           overrides={"likelihood": "bernoulli"})
    with pytest.raises(ConfigError, match="bernoulli models binary pixels.*colour levels: "
                       "use likelihood=logistic_mixture"):
        colour.plan().config
    assert pathlib.Path(colour.plan().dataset.name) == tmp_path / "mixed"


def test_arrays_of_float64_levels_train_and_evaluate_as_float32_does():
    """NumPy's ``images / 255`` is float64: a likelihood other than the Bernoulli once
    failed on it in its log-probability (a float32 - float64 subtraction)."""
    levels = squares(32, 8, (255, 0, 0), 3) / 255.0
    assert levels.dtype == np.float64
    model = zoo.get("mlp_vae", input_shape=(8, 8, 3), hidden_units=(16,), latent_dim=2,
                    likelihood="logistic_mixture")
    model.fit(levels, epochs=1, batch_size=16, verbose=0)
    as_float32 = zoo.evaluate(model, levels.astype(np.float32), verbose=0)
    assert zoo.evaluate(model, levels, verbose=0) == as_float32


def test_a_search_on_arrays_of_its_own_builds_for_them_not_for_the_default_dataset(tmp_path):
    """A 64x64 builder searched on 64x64 arrays: the trials take the arrays' shape (they
    were once built for binarized_mnist's 28x28, the placeholder of a search on own data)."""
    from zoo.tune import tune

    images = (squares(24, 64, (255, 255, 255), 8).mean(-1, keepdims=True) > 127).astype(
        np.float32)
    result = tune("dip_vae", train=images[:16], validation=images[16:], max_trials=1,
                  epochs=1, ranges=["latent_dim=2:3"], directory=tmp_path, verbose=0)
    assert [row["status"] for row in result.trials] == ["COMPLETED"]
    best = result.tuner.get_best_models(1)[0]
    assert tuple(best.image_shape) == (64, 64, 1)


def test_a_folder_is_read_as_keras_reads_it_and_tfds_names_of_any_form_are_one_line(
        tmp_path):
    write_pngs(tmp_path / "pets" / "cats", squares(3, 8, (0, 0, 0), 1))
    write_pngs(tmp_path / "pets" / ".thumbnails", squares(2, 8, (0, 0, 0), 2))  # hidden
    cats = datasets.spec(str(tmp_path / "pets"))
    assert cats.class_names == ("cats",) and sum(cats.sizes.values()) == 3
    write_pngs(tmp_path / "pets" / "cats", squares(5, 8, (0, 0, 0), 1))  # 2 more, read anew
    assert sum(datasets.spec(str(tmp_path / "pets")).sizes.values()) == 5
    with pytest.raises(DataError, match="pets changed since it was read .* read it again"):
        datasets.folder_split(cats, "train")
    again = datasets.spec(str(tmp_path / "pets"))
    datasets._FOLDERS.clear()  # as a process that did not read it finds the spec
    assert len(datasets.folder_split(again, "train")[0]) == again.sizes["train"]
    (tmp_path / "pets" / "dogs").mkdir()  # a class without images: Keras would raise
    with pytest.raises(DataError, match="dogs holds no images, and every subfolder is a "
                                        "class"):
        datasets.spec(str(tmp_path / "pets"))
    for name in ("my-images", "fashion_mnist/nope"):  # tfds: a ValueError, not not-found
        with pytest.raises(DataError, match=f"unknown dataset '{name}'"):
            datasets.spec(name, data_dir=str(tmp_path))
    assert datasets.short_name("downsampled_imagenet/32x32") == "downsampled_imagenet-32x32"
    assert datasets.short_name(str(tmp_path / "pets")) == "pets"


class ZooTestSizes(tfds.core.GeneratorBasedBuilder):
    """A tfds dataset of colour images of two sizes (an image feature of no fixed size)."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=(None, None, 3))}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for number in range(30):
            yield number, {"image": squares(1, 12 + 4 * (number % 2), (0, 0, 255), number)[0]}


def test_a_tfds_dataset_of_images_of_several_sizes_needs_and_takes_an_image_size(tmp_path):
    ZooTestSizes(data_dir=str(tmp_path)).download_and_prepare()
    with pytest.raises(DataError, match="zoo_test_sizes's images .* differ in size; pass "
                                        "--image-size"):
        datasets.spec("zoo_test_sizes", data_dir=str(tmp_path))
    batch = next(iter(data.load("zoo_test_sizes", "train", 6, image_size=10,
                                data_dir=str(tmp_path))))[0]
    assert batch.shape == (6, 10, 10, 3)


class Crashed(Exception):
    pass


class CrashInEpoch2(tf_keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):  # the first execution of epoch 2
        if self.epoch == 1:
            raise Crashed("stopped in epoch 2")


def test_a_tfds_split_larger_than_memory_streams_and_a_run_on_it_resumes(
        tmp_path, manual_dir, monkeypatch):
    """Above IN_MEMORY_BYTES a tfds split streams from tfds's files: in its stored order
    the batches held in memory; shuffled, each pass a permutation of them (within windows)
    of its seed and its key, each replica its block of every global batch; a run on it
    stopped in epoch 2 resumes to the numbers of the run never stopped."""
    ZooTestShapes(data_dir=str(tmp_path)).download_and_prepare()
    where = {"data_dir": str(tmp_path), "labels": True}
    held = list(data.load("zoo_test_shapes", "train", 16, shuffle=False, **where))
    monkeypatch.setattr(datasets, "IN_MEMORY_BYTES", 0)
    monkeypatch.setattr(data, "STREAM_WINDOW_BYTES", 30 * 16 * 16 * 3)  # windows of 30
    assert data.streams(datasets.spec("zoo_test_shapes", data_dir=str(tmp_path)), 1)
    streamed = list(data.load("zoo_test_shapes", "train", 16, shuffle=False, **where))
    for (a, label_a), (b, label_b) in zip(held, streamed, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(label_a.numpy(), label_b.numpy())

    def images(batches):
        return np.concatenate([x.numpy() for x, _ in batches])

    def sorted_rows(array):
        return sorted(row.tobytes() for row in array)

    one, again, other = (images(data.load("zoo_test_shapes", "train", 16, seed=seed, **where))
                         for seed in (1, 1, 2))
    np.testing.assert_array_equal(one, again)
    assert not np.array_equal(one, other)
    assert sorted_rows(one) == sorted_rows(images(held))
    two_passes = images(data.load("zoo_test_shapes", "train", 16, seed=1, repeat=True,
                                  **where).take(10))
    assert not np.array_equal(two_passes[:80], two_passes[80:])
    blocks = list(data.load("zoo_test_shapes", "train", 16, seed=1, replicas=(0, 2, 2),
                            **where))
    assert [len(x) for x, _ in blocks] == [8] * 10
    np.testing.assert_array_equal(images(blocks), one)
    # grey levels drawn as pixels, streamed: one draw of the split, whatever the batches
    small, large = (images(data.load("fashion_mnist:3.0.1", "test", size, labels=True,
                                     binarization="dynamic", first=300,
                                     manual_dir=manual_dir)) for size in (100, 300))
    np.testing.assert_array_equal(small, large)
    assert set(np.unique(small)) == {0.0, 1.0}
    twice = images(data.load("fashion_mnist:3.0.1", "test", 100, labels=True, shuffle=True,
                             binarization="dynamic", first=600, manual_dir=manual_dir))
    assert not np.array_equal(twice[:300], small)  # shuffled (in windows of 7 images)
    assert sorted_rows(twice) == sorted_rows(np.concatenate([small, images(data.load(
        "fashion_mnist:3.0.1", "test", 300, labels=True, shuffle=False,
        binarization="dynamic", first=600, manual_dir=manual_dir))[300:]]))

    config = zoo.RunConfig(model="mlp_vae", dataset="zoo_test_shapes", epochs=3, batch_size=16,
                           overrides={"hidden_units": [16], "latent_dim": 2},
                           deterministic=True)
    tf_keras.backend.clear_session()
    _, whole = zoo.train(config, tmp_path / "whole", data_dir=str(tmp_path), verbose=0)
    tf_keras.backend.clear_session()
    with pytest.raises(Crashed):
        zoo.train(config, tmp_path / "stopped", data_dir=str(tmp_path), verbose=0,
                  callbacks=[CrashInEpoch2()])
    tf_keras.backend.clear_session()
    _, resumed = zoo.train(config, tmp_path / "stopped", data_dir=str(tmp_path), verbose=0)
    assert resumed["history"] == whole["history"]
    assert resumed["test"] == whole["test"]


# Runs the zoo commands given as a JSON list in one process (two ``zoo train`` runs cost one
# TensorFlow start-up): the first on a folder, then, with every tfds split streamed, the next.
FOLDER_THEN_STREAMED = """
import json, sys
from zoo import datasets  # (no TensorFlow yet: --cpu-replicas sets its devices first)
from zoo.cli import main
folder, streamed = json.loads(sys.argv[1])
main(folder)
datasets.IN_MEMORY_BYTES = 0  # every tfds split streams from here on
main(streamed)
"""


def test_a_folder_and_a_streamed_split_train_on_two_cpu_replicas_as_on_one_device(
        classes_folder, tmp_path):
    """The folder input path and the streamed tfds path under MirroredStrategy (``zoo train
    --cpu-replicas 2``, each replica its block of every global batch), 2 epochs each,
    against the one-device runs: one process per replica count runs both."""
    ZooTestShapes(data_dir=str(tmp_path)).download_and_prepare()
    ends = {}
    for replicas in (1, 2):
        common = ["--epochs", "2", "--deterministic", "--cpu-replicas", str(replicas)]
        folder = ["train", "cnn_vae", "--dataset", str(classes_folder), "--batch-size", "64",
                  "--out", str(tmp_path / f"folder{replicas}"), *common, *SMALL]
        streamed = ["train", "mlp_vae", "--dataset", "zoo_test_shapes", "--data-dir",
                    str(tmp_path), "--batch-size", "16", "--set", "hidden_units=16", "--set",
                    "latent_dim=2", "--out", str(tmp_path / f"streamed{replicas}"), *common]
        done = subprocess.run([sys.executable, "-c", FOLDER_THEN_STREAMED,
                               json.dumps([folder, streamed])],
                              capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
        for kind in ("folder", "streamed"):
            ends[kind, replicas] = json.loads(
                (tmp_path / f"{kind}{replicas}" / "metrics.json").read_text())
    for kind in ("folder", "streamed"):
        one, two = ends[kind, 1], ends[kind, 2]
        assert two["distribution"] == {"strategy": "MirroredStrategy", "replicas": 2}
        assert one["distribution"]["replicas"] == 1
        assert len(one["history"]["val_neg_elbo"]) == 2
        validation = one["history"]["val_neg_elbo"]
        assert two["history"]["val_neg_elbo"] == pytest.approx(validation, rel=1e-4), kind
        assert two["test"]["elbo_nats"] == pytest.approx(one["test"]["elbo_nats"], rel=1e-4)
