"""The code keeps to setup.cfg's flake8 settings (line length 100, PEP 8)."""

import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[1]


def test_flake8_finds_nothing():
    done = subprocess.run([sys.executable, "-m", "flake8", "zoo", "tests", "benchmarks"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and not done.stdout, done.stdout[-3000:] + done.stderr[-1000:]
