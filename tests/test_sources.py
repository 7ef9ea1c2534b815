"""Every model source the zoo knows works with `zoo plot`, `zoo eval` and `zoo export`
alike (zoo.sources): a zoo.save folder, a .keras file, a leaderboard row's weights file,
a pretrained MODEL:WEIGHTS (a run folder: test_cli.py, test_plot.py); a path that is none
of them is one line."""

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo import cli, pretrained, sources
from zoo.errors import RunDirError, UnknownModelError
from zoo.models.registry import PositiveInt, unregister


def run_cli(capsys, *args):
    cli.main([str(arg) for arg in args])
    return capsys.readouterr().out


def test_a_saved_folder_and_a_keras_file_plot_evaluate_and_export(
        tmp_path, monkeypatch, manual_dir, capsys):
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
    zoo.save(model, tmp_path / "saved")
    model.save(tmp_path / "model.keras")
    monkeypatch.chdir(tmp_path)
    out = run_cli(capsys, "plot", "samples", tmp_path / "saved")
    assert out == f"wrote {tmp_path / 'saved' / 'samples.png'}\n"  # beside the model
    out = run_cli(capsys, "plot", "recon", "model.keras", "--manual-dir", manual_dir)
    assert out == "wrote model-recon.png\n"  # no folder of its own: here
    assert Image.open(tmp_path / "model-recon.png").format == "PNG"
    lines = [next(line for line in run_cli(capsys, "eval", source, "--examples", 100,
                                           "--samples", 1, "--manual-dir", manual_dir
                                           ).splitlines() if line.startswith("test ELBO"))
             for source in (tmp_path / "saved", "model.keras")]
    assert lines[0] == lines[1] and lines[0].startswith("test ELBO on binarized_mnist: ")
    assert "100 examples, 1 posterior samples each" in lines[0]
    out = run_cli(capsys, "export", "model.keras", tmp_path / "served")
    assert (tmp_path / "served" / "saved_model.pb").is_file()


def test_a_pretrained_name_and_a_row_file_are_sources_with_the_row_s_settings(
        tmp_path, monkeypatch, capsys):
    by_name = sources.resolve("mlp_vae:binarized_mnist")
    row_file = pretrained.ROW_WEIGHTS / "mlp_vae.h5"
    by_file = sources.resolve(row_file)
    assert by_name.row == by_file.row == row_file
    assert by_name.settings == by_file.settings and by_name.settings["dataset"] == "binarized_mnist"
    for mine, theirs in zip(by_name.model.get_weights(), by_file.model.get_weights(), strict=True):
        np.testing.assert_array_equal(mine, theirs)
    monkeypatch.chdir(tmp_path)  # the row's folder is the clone's: pictures go here
    assert run_cli(capsys, "plot", "samples", "mlp_vae:binarized_mnist") == (
        "wrote mlp_vae-binarized_mnist-samples.png\n")
    assert run_cli(capsys, "plot", "samples", row_file) == "wrote mlp_vae-samples.png\n"
    assert not (pretrained.ROW_WEIGHTS / "samples.png").exists()


def test_a_path_that_is_no_model_is_one_line(tmp_path, capsys):
    zoo.save(zoo.get("mlp_vae", latent_dim=2, hidden_units=(8,)), tmp_path)
    (tmp_path / "notes.txt").write_text("")
    (tmp_path / "damaged.keras").write_bytes(b"not a zip file")
    for source, message in [
            (tmp_path / "nowhere", "no such run folder or file; pass a run folder, a zoo.save "
                                   "folder, a .keras or weights .h5 file, or MODEL:WEIGHTS"),
            (tmp_path / "model.h5", "holds weights without the model they fit; pass its run "
                                    "folder, or in Python zoo.get(MODEL, ..., weights=PATH)"),
            (tmp_path / "notes.txt", "is not a model the zoo can read"),
            (tmp_path / "damaged.keras", "damaged.keras is not a .keras file of a zoo model "
                                         "that loads here"),
            ("mlp_vae:binarized_mnst", "mlp_vae has no pretrained weights named "
                                       "'binarized_mnst'; did you mean 'binarized_mnist'")]:
        with pytest.raises(SystemExit):
            cli.main(["eval", str(source)])
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error


def test_a_source_without_a_dataset_gets_one_of_its_image_shape(tmp_path, capsys):
    """A 64x64 model saved without data settings is evaluated and drawn on sprites (not on
    binarized_mnist's 28x28 images); a dataset whose images it does not take is one line."""
    zoo.save(zoo.get("mlp_vae", latent_dim=2, hidden_units=(8,), input_shape=(64, 64, 1)),
             tmp_path / "sprites_model")
    assert sources.resolve(tmp_path / "sprites_model").settings["dataset"] == "sprites"
    out = run_cli(capsys, "plot", "recon", tmp_path / "sprites_model")
    assert Image.open(tmp_path / "sprites_model" / "recon.png").format == "PNG", out
    run_cli(capsys, "plot", "traverse", tmp_path / "sprites_model")  # 9 steps a latent,
    assert Image.open(tmp_path / "sprites_model" / "traverse.png").width > 9 * 65  # unshrunk
    for source, dataset, message in [
            (tmp_path / "sprites_model", "fashion_mnist",
             "takes 64x64x1 images, and fashion_mnist has 28x28x1; pass --dataset sprites"),
            ("mlp_vae:binarized_mnist", "sprites",
             "takes 28x28x1 images, and sprites has 64x64x1; pass --dataset binarized_mnist")]:
        with pytest.raises(SystemExit):
            cli.main(["plot", "recon", str(source), "--dataset", dataset])
        error = capsys.readouterr().err
        assert message in error and error.count("\n") == 1, error


def test_a_pretrained_name_of_a_model_registered_in_this_process_is_one(tmp_path):
    """A plugin's MODEL:WEIGHTS: the catalog (zoo's own builders) does not know the model, so
    resolve checks names against the registry as it is now."""

    @zoo.register("sources_demo_vae")
    def sources_demo_vae(latent_dim: PositiveInt = 2):
        """A model of this test's own."""
        return zoo.get("mlp_vae", latent_dim=latent_dim, hidden_units=(8,))

    try:
        assert sources.kind("sources_demo_vae:mine", registered=True) == "pretrained"
        with pytest.raises(RunDirError, match="no such run folder or file"):
            sources.kind("sources_demo_vae:mine")  # the catalog alone: zoo's own builders
        with pytest.raises(UnknownModelError, match="sources_demo_vae has no pretrained "
                                                    "weights named 'mine'"):
            sources.resolve("sources_demo_vae:mine")
    finally:
        unregister("sources_demo_vae")
