"""benchmarks/step_profile.py sorts a profiled step's op time by kind. (The times are
benchmark figures, recorded in benchmarks/results/, not asserted here.)"""

import json
import pathlib
import subprocess
import sys

import pytest

from conftest import benchmark_script

REPO = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "step_profile.py"


def test_the_profile_sorts_op_time_by_kind(tmp_path, manual_dir):
    """The script's main in this process (its command line: the test below)."""
    step_profile = benchmark_script("step_profile")
    out = tmp_path / "step-profile.json"
    step_profile.main(["--models", "mlp_vae", "--steps", "4", "--manual-dir", str(manual_dir),
                       "--out", str(out)])
    section = json.loads(out.read_text())["models"]["mlp_vae"]
    zoo_fit, tf_loop = section["zoo fit"], section["tf loop"]
    for contender in (zoo_fit, tf_loop):
        kinds = contender["kinds_ms_per_step"]
        assert kinds["matrix products"] > 0 and kinds["convolutions"] == 0  # an MLP
        assert contender["op_ms_per_step"] == pytest.approx(sum(kinds.values()))
        assert sum(contender["kinds_share"].values()) == pytest.approx(1.0)
        assert contender["wall_ms_per_step"] > 0
    # the zoo's legacy Adam is one fused kernel per variable; the TF loop's new Adam is not
    assert "ResourceApplyAdam" in zoo_fit["top_ops_ms_per_step"]
    assert zoo_fit["kinds_ms_per_step"]["optimizer updates"] > 0
    assert tf_loop["kinds_ms_per_step"]["optimizer updates"] == 0


def test_a_bad_argument_is_one_line():
    done = subprocess.run([sys.executable, str(SCRIPT), "--steps", "0"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and done.stderr.strip().splitlines()[-1].endswith(
        "--steps must be >= 1")
