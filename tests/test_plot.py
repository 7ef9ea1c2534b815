"""Pictures: valid, non-blank PNG/GIF files of the expected size, and clear refusals."""

import dataclasses

import numpy as np
import pytest
import tf_keras
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import zoo
from zoo import cli, datasets, plot, runs
from zoo.errors import ConfigError, DataError

EPOCHS = 2


@pytest.fixture(scope="module")
def fashion_run(tmp_path_factory, manual_dir):
    """A 2-d cnn_vae trained for 2 epochs on 10,000 fashion_mnist images, with the GIF and
    TensorBoard."""
    folder = tmp_path_factory.mktemp("fashion")
    logs = folder.parent / "tensorboard"
    config = zoo.RunConfig(model="cnn_vae", dataset="fashion_mnist", epochs=EPOCHS,
                           overrides={"latent_dim": 2, "filters": [8, 16]}, batch_size=256,
                           eval_samples=1, train_examples=10000, eval_examples=1000)
    callbacks = [plot.SampleGridAnimation(folder / "samples.gif", n=16),
                 tf_keras.callbacks.TensorBoard(str(logs)), plot.SampleGridSummary(logs, n=16)]
    zoo.train(config, folder, manual_dir=manual_dir, callbacks=callbacks, verbose=0)
    return folder, logs


def png(path, size):
    """The image at ``path``, after checking it is a PNG of ``size`` that is not blank."""
    image = Image.open(path)
    assert image.format == "PNG" and image.size == size
    pixels = np.asarray(image.convert("L"), np.float32)
    assert pixels.std() > 20  # a blank or single-colour picture has std near 0
    return pixels


@pytest.mark.parametrize("kind, size", [
    ("samples", (440, 410)), ("recon", (800, 140)), ("manifold", (1030, 1020)),
    ("latent", (700, 600)), ("traverse", (535, 140)), ("interpolate", (580, 320)),
])
def test_every_kind_of_picture_is_a_non_blank_png(fashion_run, manual_dir, kind, size):
    folder, _ = fashion_run
    path = plot.from_run(kind, folder, manual_dir=manual_dir)
    assert path == folder / f"{kind}.png"
    png(path, size)


def blank_band_under_the_title(pixels):
    """How many all-white pixel rows follow the title's first text before the picture."""
    white = (pixels > 250).all(axis=1)
    row = int(np.argmin(white))  # the title's top
    while not white[row]:
        row += 1
    band = row
    while white[band]:
        band += 1
    return band - row


@pytest.mark.parametrize("kind", ["manifold", "samples", "traverse"])
def test_grids_sit_right_under_their_title(fashion_run, manual_dir, kind):
    path = plot.from_run(kind, fashion_run[0], manual_dir=manual_dir)
    pixels = np.asarray(Image.open(path).convert("L"))
    assert blank_band_under_the_title(pixels) < 20  # the old layout left 95 rows


def test_the_manifold_changes_across_the_grid(fashion_run):
    model = zoo.load(fashion_run[0])
    corners = plot._decoded(model, np.array([[-1.6, -1.6], [1.6, 1.6], [-1.6, 1.6]]))
    assert np.abs(corners[0] - corners[1]).mean() > 0.02
    assert np.abs(corners[0] - corners[2]).mean() > 0.02


def test_the_animation_has_one_frame_per_epoch(fashion_run):
    gif = Image.open(fashion_run[0] / "samples.gif")
    assert gif.format == "GIF" and gif.n_frames == EPOCHS
    frames = []
    for index in range(gif.n_frames):
        gif.seek(index)
        frames.append(np.asarray(gif.convert("L"), np.float32))
    assert all(frame.std() > 20 for frame in frames)
    assert np.abs(frames[0] - frames[1]).mean() > 0.5  # the model changed between epochs


def test_tensorboard_holds_the_loss_terms_and_the_sample_grid(fashion_run):
    _, logs = fashion_run
    validation = EventAccumulator(str(logs / "validation")).Reload()
    assert {"epoch_loss", "epoch_reconstruction", "epoch_kl"} <= set(
        validation.Tags()["tensors"])  # TF2 summaries: scalars are stored as tensors
    assert [event.step for event in validation.Tensors("epoch_kl")] == list(range(EPOCHS))
    grids = EventAccumulator(str(logs / "samples"), size_guidance={"tensors": 0}).Reload()
    steps = [event.step for event in grids.Tensors("samples")]
    assert steps == list(range(EPOCHS))
    width, height, encoded = grids.Tensors("samples")[0].tensor_proto.string_val
    assert (int(width), int(height)) == (400, 230) and encoded.startswith(b"\x89PNG")


def test_the_cli_writes_a_picture_where_asked(fashion_run, manual_dir, tmp_path, capsys):
    cli.main(["plot", "traverse", str(fashion_run[0]), "--out", str(tmp_path / "t.png"),
              "--manual-dir", str(manual_dir)])
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / 't.png'}"
    png(tmp_path / "t.png", (535, 140))


@pytest.fixture
def wide_binarized_run(tmp_path):
    """A run folder of an (untrained) 3-d mlp_vae on binarized_mnist, which has no labels."""
    config = zoo.RunConfig(model="mlp_vae", overrides={"latent_dim": 3}).resolved()
    runs.claim(tmp_path, dataclasses.asdict(config))
    zoo.save(zoo.get("mlp_vae", latent_dim=3), tmp_path)
    return tmp_path


def test_the_latent_plot_refuses_unlabelled_data(wide_binarized_run, manual_dir):
    with pytest.raises(DataError, match="binarized_mnist has no class labels, which .* "
                                        "need; use a dataset with them: mnist or "
                                        "fashion_mnist"):
        plot.from_run("latent", wide_binarized_run, manual_dir=manual_dir)


def test_the_manifold_of_a_wider_latent_needs_two_chosen_dimensions(wide_binarized_run):
    with pytest.raises(ConfigError, match="has 3; choose two with --dims I,J"):
        plot.from_run("manifold", wide_binarized_run)
    path = plot.from_run("manifold", wide_binarized_run, dims=(0, 2))
    assert Image.open(path).size == (1030, 1020)
    with pytest.raises(ConfigError, match=r"two different latent dimensions in 0...2"):
        plot.from_run("manifold", wide_binarized_run, dims=(0, 3))


def test_a_latent_plot_of_more_dimensions_is_drawn_from_its_pca_projection(
        tmp_path, test_images):
    model = zoo.get("mlp_vae", latent_dim=5)
    labels = np.arange(len(test_images)) % 10
    png(plot.latent(model, test_images, labels, tmp_path / "l.png"), (700, 600))


def test_a_one_dimensional_latent_and_a_cvae_of_three_classes_are_drawn(tmp_path, test_images):
    model = zoo.get("mlp_vae", latent_dim=1, hidden_units=(16,))
    labels = np.arange(len(test_images)) % 3
    pixels = png(plot.latent(model, test_images, labels, tmp_path / "one.png"), (700, 600))
    assert pixels.shape == (600, 700)
    cvae = zoo.get("cvae", classes=3, hidden_units=(16,), latent_dim=2)
    # fashion_mnist's ten names do not fit three classes: rows are named y=0, y=1, y=2
    grid = plot.SampleGrid.of(cvae, 12, 0,
                              class_names=datasets.DATASETS["fashion_mnist"].class_names)
    assert grid.row_labels == ["y=0", "y=1", "y=2"] and grid.codes.shape == (12, 2)
    png(plot.samples(cvae, tmp_path / "cvae.png", n=12), (400, 185))


@pytest.mark.parametrize("kind, out, message", [
    ("scatter", None, "unknown plot 'scatter'; choose one of samples, recon"),
    ("samples", "grid.jpg", "plots are written as PNG; name the file .*grid.png"),
])
def test_bad_plot_requests_are_refused_before_drawing(wide_binarized_run, kind, out, message):
    with pytest.raises(ConfigError, match=message):
        plot.from_run(kind, wide_binarized_run, out and wide_binarized_run / out)
    assert not (wide_binarized_run / "grid.jpg").exists()


def test_a_title_says_epoch_in_the_singular_and_the_examples_of_a_quick_run():
    run = {"model": "mlp_vae", "dataset": "binarized_mnist", "train_examples": 2000,
           "eval_examples": 500}
    assert plot._run_title(run, {"epochs_run": 1, "test": {
        "elbo_nats": -150.04, "examples": 500}}) == (
        "mlp_vae on binarized_mnist (first 2,000 training images), 1 epoch, test ELBO "
        "-150.0 nats on 500 test images")
    assert plot._run_title({**run, "train_examples": 0, "eval_examples": 0}, {
        "epochs_run": 3, "test": {"elbo_nats": -99.0}}) == (
        "mlp_vae on binarized_mnist, 3 epochs, test ELBO -99.0 nats")
    assert plot._run_title(run) == "mlp_vae on binarized_mnist (first 2,000 training images)"
    folder = {"model": "cnn_vae", "dataset": "/data/my_images", "image_size": [64, 48]}
    assert plot._run_title(folder) == "cnn_vae on my_images at 64x48"
