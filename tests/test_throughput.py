"""benchmarks/throughput.py compares like with like: the same architecture and loss in the
zoo and in a plain TF loop; and it writes a result file and its table. (The PyTorch loop,
for which torch must be installed, is checked by the script itself before it is timed:
``check_torch_loop``. Speeds are benchmark figures, recorded in benchmarks/results/, not
asserted here.)"""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import zoo
from conftest import benchmark_script

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "throughput.py"
throughput = benchmark_script("throughput")


@pytest.mark.parametrize("name", ["mlp_vae", "cnn_vae"])
def test_the_plain_tf_loop_computes_the_zoo_loss_on_the_same_weights(name, test_images):
    model = zoo.get(name)
    encoder, decoder = throughput.tf_layers(name)
    encoder.set_weights(model.encoder.get_weights())  # same layers, same order, same shapes
    decoder.set_weights(model.decoder.get_weights())
    x = test_images[:32]
    latent_dim = model.latent_dim
    eps = tf.random.stateless_normal([32, latent_dim], [5, 6])
    full_covariance = name != "mlp_vae"
    plain = throughput.tf_negative_elbo(encoder, decoder, x, latent_dim, full_covariance, eps)

    posterior = model.encoder(x)
    z = posterior.loc + posterior.scale.matvec(eps)
    zoo_loss = (-model.decoder(z).log_prob(x)
                + tfp.distributions.kl_divergence(posterior, model.prior))
    np.testing.assert_allclose(plain, zoo_loss, rtol=1e-5)
    assert float(tf.reduce_mean(plain)) > 400  # untrained: about 784 log 2 nats


def test_the_benchmark_writes_its_result_file_and_table(tmp_path, manual_dir):
    out, table = tmp_path / "results" / "throughput-test.json", tmp_path / "T.md"
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--models", "mlp_vae", "--steps", "3", "--rounds", "2",
         "--contenders", "zoo fit", "tf loop", "zoo fit mixed", "--manual-dir",
         str(manual_dir), "--out", str(out), "--table", str(table)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    section = result["models"]["mlp_vae"]
    for name in ("zoo fit", "tf loop", "zoo fit mixed"):
        contender = section["contenders"][name]
        assert len(contender["rounds_examples_per_second"]) == 2
        assert contender["examples_per_second"] > 0 and contender["peak_rss_mib"] > 100
        assert 0 < contender["last_loss"] < 600
    assert section["ratios"]["zoo / tf loop"] == pytest.approx(
        section["contenders"]["zoo fit"]["examples_per_second"]
        / section["contenders"]["tf loop"]["examples_per_second"])
    tf_rounds = section["contenders"]["tf loop"]["rounds_examples_per_second"]
    assert section["round_ratios"]["zoo / tf loop"] == pytest.approx(
        [a / b for a, b in zip(section["contenders"]["zoo fit"]["rounds_examples_per_second"],
                               tf_rounds, strict=True)])
    assert section["ratios"]["mixed / zoo"] == pytest.approx(
        section["contenders"]["zoo fit mixed"]["examples_per_second"]
        / section["contenders"]["zoo fit"]["examples_per_second"])
    assert section["pipeline_alone_examples_per_second"] > 0
    assert result["environment"]["git_commit"] and "throughput.py" in (
        result["environment"]["command"])
    assert "| mlp_vae | 128 |" in table.read_text()


def test_a_bad_argument_is_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--steps", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].endswith(
        "--steps must be >= 1")


def test_the_committed_table_is_generated_from_the_committed_result_files():
    results = [json.loads(path.read_text())
               for path in sorted((REPO / "benchmarks" / "results").glob("throughput-*.json"))]
    assert results, "run benchmarks/throughput.py to record the throughput rows"
    assert (REPO / "benchmarks" / "THROUGHPUT.md").read_text() == throughput.table(results)


def test_missing_source_files_are_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--manual-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "TFDS_DATA_DIR": str(tmp_path)})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "throughput.py: error:" in done.stderr.strip().splitlines()[-1]


def test_a_builder_without_hand_written_loops_is_measured_by_the_zoos_contenders_alone():
    zoo_only = [name for name in throughput.CONTENDERS if name.startswith("zoo fit")]
    assert throughput.contenders_for("conv_vamp_vae", throughput.CONTENDERS) == zoo_only
    assert throughput.contenders_for("cnn_vae", throughput.CONTENDERS) == list(
        throughput.CONTENDERS)
    done = subprocess.run([sys.executable, str(SCRIPT), "--models", "conv_vamp_vea"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "invalid choice: 'conv_vamp_vea'" in done.stderr
    done = subprocess.run([sys.executable, str(SCRIPT), "--models", "conv_vamp_vae",
                           "--contenders", "tf loop"], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].endswith(
        "written for mlp_vae and cnn_vae alone; add 'zoo fit' to measure conv_vamp_vae")
