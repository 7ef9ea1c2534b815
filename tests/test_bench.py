"""Recipes (validated TOML) and the benchmark runner that turns one into a result file."""

import json
import math
import pathlib
import shutil
import subprocess
import sys

import h5py
import pytest

from zoo import cli, datasets, files, pretrained, provenance, recipes, results, weight_files
from zoo.errors import ConfigError, OverrideError

REPO = pathlib.Path(__file__).resolve().parents[1]
TINY = """
model = "mlp_vae"
deterministic = true
epochs = 1
batch_size = 500
train_examples = 10000
eval_examples = 1000
eval_samples = 2
log_likelihood_samples = 5
learning_rate_schedule = "cosine"
kl_warmup_epochs = 1

[overrides]
latent_dim = 2
hidden_units = [32]

[reference]
log_likelihood_nats = -100
source = "a test"
"""


@pytest.mark.parametrize("path", sorted((REPO / "recipes").glob("*.toml")),
                         ids=lambda path: path.stem)
def test_every_committed_recipe_loads(path):
    recipe = recipes.load(path)  # (its settings checked; its data read at first use)
    stated = recipes.tomllib.loads(path.read_text())  # every row names its binarization
    settings = recipe.plan.settings
    assert recipe.name == path.stem and settings.binarization == stated["binarization"]
    if settings.dataset in datasets.DATASETS:  # the zoo's conventions, without reading data
        assert recipe.config.binarization == settings.binarization
    if settings.dataset == "binarized_mnist":
        assert recipe.config.binarization == "static"


@pytest.mark.parametrize("text, error, message", [
    ('model = "mlp_vae"\njit_compile = 1\n', ConfigError,
     "jit_compile = 1 has the wrong type; jit_compile accepts true or false"),
    ('model = "mlp_vae"\nepoch = 3\n', ConfigError,
     r"bad.toml: unknown key 'epoch'; a recipe accepts model, overrides, .*epochs"),
    ('model = "mlp_vae"\nepochs = "3"\n', ConfigError,
     r"bad.toml: epochs = '3' has the wrong type; epochs accepts an int"),
    ('model = "mlp_vae"\nepochs = true\n', ConfigError, "epochs = True has the wrong type"),
    ('epochs = 3\n', ConfigError, r"bad.toml: missing key 'model'"),
    ('model = "mlp_vae"\nepochs = 0\n', ConfigError, r"bad.toml: epochs must be an int >= 1"),
    ('model = "mlp_vae"\nlearning_rate_schedule = "step"\n', ConfigError,
     "learning_rate_schedule must be one of constant, cosine, plateau, got 'step'"),
    ('model = "mlp_vae"\n[overrides]\nlatent = 2\n', OverrideError,
     r"bad.toml: mlp_vae has no override 'latent'; did you mean 'latent_dim'"),
    ('model = "mlp_vae"\n[reference]\nnats = 1\n', ConfigError,
     r"unknown key 'reference.nats'; \[reference\] accepts log_likelihood_nats"),
    ('model = "mlp_vae"\nepochs = [\n', ConfigError, "bad.toml is not valid TOML"),
])
def test_a_bad_recipe_names_the_file_the_key_and_what_is_accepted(tmp_path, text, error,
                                                                  message):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(error, match=message):
        recipes.load(tmp_path / "bad.toml")


def test_a_missing_recipe_file_is_one_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="no recipe file .*nothere.toml"):
        recipes.load(tmp_path / "nothere.toml")


def test_a_written_recipe_reads_back_the_same(tmp_path):
    (tmp_path / "tiny.toml").write_text(TINY)
    recipe = recipes.load(tmp_path / "tiny.toml")
    recipes.write(recipe, tmp_path / "copy.toml")
    again = recipes.load(tmp_path / "copy.toml")
    assert again.config == recipe.config and again.reference == recipe.reference


def test_a_recipe_run_twice_gives_the_same_numbers_and_a_leaderboard_row(tmp_path, manual_dir,
                                                                         capsys):
    """``zoo bench`` in a new process, as a user runs it, and again in this one: the same
    numbers to the bit; then ``zoo eval --record`` adds a later evaluation to the row."""
    (tmp_path / "tiny.toml").write_text(TINY)
    command = ["bench", str(tmp_path / "tiny.toml"), "--manual-dir", str(manual_dir)]
    done = subprocess.run([sys.executable, "-m", "zoo.cli", *command,
                           "--benchmarks", str(tmp_path / "first")],
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "test log p(x) on binarized_mnist" in done.stdout
    cli.main([*command, "--benchmarks", str(tmp_path / "second")])
    assert "test log p(x) on binarized_mnist" in capsys.readouterr().out
    first, second = (json.loads((tmp_path / where / "results" / "tiny.json").read_text())
                     for where in ("first", "second"))
    for key in ("elbo_nats", "log_likelihood_nats", "reconstruction_nats", "kl_nats"):
        assert first["test"][key] == second["test"][key]  # same seed, CPU: bit for bit
    assert first["test"]["log_likelihood_samples"] == 5
    assert first["test"]["log_likelihood_nats"] > first["test"]["elbo_nats"] - 1

    result = json.loads((tmp_path / "first" / "results" / "tiny.json").read_text())
    assert result["recipe_contents"]["overrides"] == {"latent_dim": 2, "hidden_units": [32]}
    assert result["environment"]["git_commit"] and result["environment"]["cpu_count"]
    assert set(result["environment"]["cpu_flags"]) <= set(provenance.VECTOR_EXTENSIONS)
    (piece,) = result["pieces"]  # trained in one go: one piece, the whole run
    assert piece["epochs"] == [1, result["epochs_run"]]
    assert piece["seconds"] == result["train_seconds"]
    assert piece["command"] == " ".join(["zoo", *command, "--benchmarks", str(tmp_path / "first")])
    weights = tmp_path / "first" / "weights" / "tiny.h5"  # one file per row, nothing else
    assert result["weights"] == str(weights)
    assert list(weights.parent.iterdir()) == [weights]
    assert result["weights_sha256"] == files.sha256(weights)
    reloaded = pretrained.load_row(weights)
    with h5py.File(weights) as stored:  # lossless gzip, so that a row file stays small
        kernel = next(stored[name] for name in weight_files.variables_by_path(reloaded)
                      if name.endswith("kernel"))
        assert kernel.compression == "gzip" and kernel.shuffle
    assert reloaded.zoo_config["overrides"]["hidden_units"] == (32,)
    assert result["parameters"] == reloaded.count_params()
    assert result["first_2000"]["examples"] == 2000
    assert result["first_2000"]["elbo_nats"] == second["first_2000"]["elbo_nats"]
    assert None not in result["recipe_contents"].values()  # a TOML file's settings: re-read,
    assert recipes.from_dict("tiny", result["recipe_contents"]).config == (      # the same run
        recipes.load(tmp_path / "tiny.toml").config)

    board = (tmp_path / "first" / "LEADERBOARD.md").read_text()
    assert "## binarized_mnist (static)" in board
    row = next(line for line in board.splitlines() if line.startswith("| tiny |"))
    assert f"| {-first['test']['elbo_nats']:.2f} |" in row and "| 100.00 (a test) |" in row
    assert ("1/1 epochs of the first 10000 train examples, tested on the first 1000 test "
            "examples, 0 min training") in row
    assert "mlp_vae (vanilla)" in row
    assert row.endswith("| `first/weights/tiny.h5` |")  # not the absolute path it ran with
    (tmp_path / "first" / "LEADERBOARD.md").unlink()
    assert results.leaderboard(tmp_path / "first") == board  # regenerated from the file alone

    # A later evaluation with more samples, recorded: the row shows its K now.
    cli.main(["eval", str(weights), "-k", "20", "--record", "--manual-dir", str(manual_dir)])
    result = json.loads((tmp_path / "first" / "results" / "tiny.json").read_text())
    (evaluation,) = result["evaluations"]
    assert evaluation["test"]["log_likelihood_samples"] == 20
    assert evaluation["test"]["elbo_nats"] == pytest.approx(  # the same weights
        first["test"]["elbo_nats"], abs=1e-6)
    board = (tmp_path / "first" / "LEADERBOARD.md").read_text()
    assert f"{-evaluation['test']['log_likelihood_nats']:.2f} (20)" in board


def test_the_leaderboard_needs_result_files(tmp_path):
    with pytest.raises(ConfigError, match="no result files in .*; run `zoo bench"):
        results.leaderboard(tmp_path)


def test_the_committed_leaderboard_is_what_the_result_files_generate(tmp_path):
    board = REPO / "benchmarks" / "LEADERBOARD.md"
    if not board.exists():
        pytest.skip("no leaderboard committed yet")
    shutil.copytree(REPO / "recipes", tmp_path / "recipes")  # the published column's source
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    for result in (REPO / "benchmarks" / "results").glob("*.json"):
        (tmp_path / "benchmarks" / "results" / result.name).write_text(result.read_text())
    assert results.leaderboard(tmp_path / "benchmarks") == board.read_text()


def test_the_published_column_is_the_committed_recipes_reference(tmp_path):
    """An anchor found after a row's run goes into its recipe, and the leaderboard shows it;
    a row without a readable committed recipe shows the reference its run recorded."""
    result = json.loads((REPO / "benchmarks" / "results" / "mlp_vae.json").read_text())
    (tmp_path / "benchmarks" / "results").mkdir(parents=True)
    (tmp_path / "benchmarks" / "results" / "mlp_vae.json").write_text(json.dumps(result))
    recorded = result["recipe_contents"]["reference"]

    def row():  # the row of the main table (its weights' column), not of Sample quality
        return next(line for line in results.leaderboard(tmp_path / "benchmarks").splitlines()
                    if line.startswith("| mlp_vae |") and line.endswith(".h5` |"))

    assert f"| {-recorded['log_likelihood_nats']:.2f} ({recorded['source']}) |" in row()
    (tmp_path / "recipes").mkdir()
    recipe = (REPO / "recipes" / "mlp_vae.toml").read_text().split("[reference]")[0]
    (tmp_path / "recipes" / "mlp_vae.toml").write_text(
        recipe + '[reference]\nlog_likelihood_nats = -80.5\nsource = "found later"\n')
    assert "| 80.50 (found later) |" in row()
    (tmp_path / "recipes" / "mlp_vae.toml").write_text("[reference\n")  # broken: not used
    assert f"| {-recorded['log_likelihood_nats']:.2f} ({recorded['source']}) |" in row()


def test_a_row_of_8_bit_pixels_shows_bits_per_dimension_next_to_nats(tmp_path):
    """A logistic-mixture row (grey levels) reads in bits/dim as well: -nats / (D ln 2)."""
    result = json.loads((REPO / "benchmarks" / "results" / "mlp_vae.json").read_text())
    test = result["test"]
    dimensions = 28 * 28 * math.log(2)
    test.update(elbo_bits_per_dim=-test["elbo_nats"] / dimensions,
                log_likelihood_bits_per_dim=-test["log_likelihood_nats"] / dimensions)
    result.update(recipe="grey", evaluations=[])
    result["recipe_contents"].update(dataset="fashion_mnist", binarization="none")
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "grey.json").write_text(json.dumps(result))
    row = next(line for line in results.leaderboard(tmp_path).splitlines()
               if line.startswith("| grey |"))
    assert (f"| {-test['log_likelihood_nats']:.2f} ({test['log_likelihood_samples']}); "
            f"{test['log_likelihood_bits_per_dim']:.3f} bits/dim "
            f"| {-test['elbo_nats']:.2f}; {test['elbo_bits_per_dim']:.3f} bits/dim |") in row
    assert "## fashion_mnist (none)" in results.leaderboard(tmp_path)
    result.update(recipe="grey_14")  # the same data at another size: a table of its own
    result["recipe_contents"].update(image_size=14)
    (tmp_path / "results" / "grey_14.json").write_text(json.dumps(result))
    board = results.leaderboard(tmp_path)
    assert board.index("## fashion_mnist (none)") < board.index("| grey |") < board.index(
        "## fashion_mnist at 14x14 (none)") < board.index("| grey_14 |")


# /proc/cpuinfo of two 2-core machines that both call themselves "AMD EPYC" (flags cut short)
CPUINFO = """processor\t: 0
vendor_id\t: AuthenticAMD
model name\t: AMD EPYC
flags\t\t: fpu sse sse2 ssse3 fma sse4_1 sse4_2 avx f16c avx2 bmi2 {extra}clwb sha_ni
bugs\t\t: sysret_ss_attrs

processor\t: 1
model name\t: AMD EPYC 9B14
flags\t\t: fpu sse avx512f
"""


def test_result_files_record_the_vector_units_and_the_leaderboard_shows_the_widest(tmp_path):
    """Two CPUs with one model name train at different speeds; the budget column says which."""
    avx2 = provenance.cpu_description(CPUINFO.format(extra=""))
    avx512 = provenance.cpu_description(CPUINFO.format(extra="avx512f avx512bw avx512_vnni "))
    assert avx2 == {"cpu": "AMD EPYC", "cpu_flags": ["avx", "avx2", "fma"]}  # first processor
    assert avx512["cpu_flags"] == ["avx", "avx2", "fma", "avx512f", "avx512_vnni"]
    assert provenance.cpu_description("processor : 0\nFeatures : neon\n")["cpu_flags"] == []

    result = json.loads((REPO / "benchmarks" / "results" / "mlp_vae.json").read_text())
    recorded = {key: value for key, value in result["environment"].items()
                if key != "cpu_flags"}  # as a row written before flags were kept
    machines = {"before": {}, "avx2": avx2, "avx512": avx512,
                "arm": {"cpu": "Neoverse", "cpu_flags": []}}
    (tmp_path / "results").mkdir()
    for name, cpu in machines.items():
        result.update(recipe=name, evaluations=[],
                      environment={**recorded, "cpu": "AMD EPYC", "cpu_count": 2, **cpu})
        (tmp_path / "results" / f"{name}.json").write_text(json.dumps(result))
    board = results.leaderboard(tmp_path).splitlines()
    row = {name: next(line for line in board if line.startswith(f"| {name} |"))
           for name in machines}
    assert "min test, AMD EPYC (2 cores) |" in row["before"]
    assert "min test, AMD EPYC (2 cores, AVX2) |" in row["avx2"]
    assert "min test, AMD EPYC (2 cores, AVX-512) |" in row["avx512"]
    assert "min test, Neoverse (2 cores, no AVX) |" in row["arm"]
    assert " min training + " in row["avx512"]  # float32: nothing said
    result.update(recipe="mixed", dtype_policy="mixed_bfloat16")  # zoo train --mixed-precision
    (tmp_path / "results" / "mixed.json").write_text(json.dumps(result))
    assert " min training in mixed_bfloat16 + " in next(
        line for line in results.leaderboard(tmp_path).splitlines()
        if line.startswith("| mixed |"))
    # a row trained in pieces (resumed, continued) on two machines: how many, and which
    piece = {"command": "zoo bench", "cpu": "AMD EPYC", "cpu_count": 2, "gpus": []}
    result.update(recipe="pieces", dtype_policy="float32", train_seconds=3 * 3600, pieces=[
        {"epochs": [1, 10], "note": "trained before the zoo recorded pieces"},
        {**piece, **avx2, "epochs": [11, 200]}, {**piece, **avx2, "epochs": [201, 350]},
        {**piece, **avx512, "epochs": [351, 700]}])
    (tmp_path / "results" / "pieces.json").write_text(json.dumps(result))
    line = next(line for line in results.leaderboard(tmp_path).splitlines()
                if line.startswith("| pieces |"))
    assert " 180 min training in 4 pieces + " in line
    assert ("min test, a machine not recorded + AMD EPYC (2 cores, AVX2) + AMD EPYC (2 cores, "
            "AVX-512) |") in line


def test_a_sprites_row_keeps_its_disentanglement_and_its_seeds_share_a_line(tmp_path,
                                                                            capsys):
    """``zoo bench`` of a row on sprites also scores the six disentanglement metrics (at a
    quick look's sizes here); the leaderboard's disentanglement table shows rows that differ
    only in their seed on one line: each score's mean over the seeds and their range."""
    (tmp_path / "sprites.toml").write_text(
        'model = "mlp_vae"\ndataset = "sprites"\nepochs = 1\nbatch_size = 64\n'
        'train_examples = 256\neval_examples = 128\neval_samples = 1\n\n'
        '[overrides]\nlatent_dim = 3\nhidden_units = [16]\n')
    cli.main(["bench", str(tmp_path / "sprites.toml"), "--benchmarks",
              str(tmp_path / "benchmarks"), "--metric-points", "300"])
    result = json.loads((tmp_path / "benchmarks" / "results" / "sprites.json").read_text())
    mig = result["disentanglement"]["scores"]["mig"]["score"]
    assert f"mig: score {mig:.3f}" in capsys.readouterr().out
    assert set(result["disentanglement"]["scores"]) == {
        "beta_vae", "factor_vae", "mig", "dci", "sap", "modularity"}
    assert result["disentanglement"]["sizes"]["dci"] == {"num_train": 300, "num_test": 150}
    assert result["disentanglement"]["seed"] == 0
    other = json.loads(json.dumps(result))  # seed 1's row, its MIG 0.2 higher
    other.update(recipe="sprites_seed1")
    other["recipe_contents"]["seed"] = 1
    other["disentanglement"]["scores"]["mig"]["score"] += 0.2
    (tmp_path / "benchmarks" / "results" / "sprites_seed1.json").write_text(json.dumps(other))
    board = results.leaderboard(tmp_path / "benchmarks").splitlines()
    section = board[board.index("## Disentanglement on sprites"):]
    (line,) = [line for line in section if line.startswith("| mlp_vae (vanilla) |")]
    assert "| 0 (sprites), 1 (sprites_seed1) |" in line
    assert f"| {mig + 0.1:.3f} ({mig:.3f}–{mig + 0.2:.3f}) |" in line
    assert f"| {result['test']['reconstruction_nats']:.1f} |" in line  # both seeds alike
    assert "| 300 points |" in line and "| 4 |" in line  # 256 examples, batch 64: 4 steps
