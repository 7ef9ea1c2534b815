"""Every builder on 2 mirrored replicas trains exactly like one device (strategy_check.py,
a few steps each, the last batch of 3 rows split 2 + 1)."""

import concurrent.futures
import functools
import json
import os
import pathlib
import subprocess
import sys

import pytest

import zoo
from processes import finished

HERE = pathlib.Path(__file__).resolve().parent


@pytest.fixture(scope="module")
def mirrored_report(manual_dir):
    """strategy_check.py's report: every builder on 1 device and on 2 mirrored replicas. The
    builders are split over two processes that run at once (one MirroredStrategy each):
    building and tracing the models is mostly single-threaded Python."""
    names = sorted(zoo.list())
    checks = [subprocess.Popen([sys.executable, str(HERE / "strategy_check.py"), *half],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "ZOO_MANUAL_DIR": str(manual_dir)})
              for half in (names[0::2], names[1::2])]
    report = {}
    with concurrent.futures.ThreadPoolExecutor(2) as pool:  # both read as they print
        # 305 s in one process, 530 s beside another worker's tests: a wide margin
        for out in pool.map(functools.partial(finished, timeout=1500), checks):
            report.update(json.loads(out.strip().splitlines()[-1]))
    return report


def test_beta_tcvae_runs_one_step_per_execution_under_replicas_and_saves_what_was_asked(
        mirrored_report):
    assert mirrored_report["beta_tcvae_steps_per_execution"] == {"run": 1, "saved": 16}


@pytest.mark.parametrize("name", sorted(zoo.list()))
def test_mirrored_replicas_train_exactly_like_one_device(mirrored_report, name):
    report = mirrored_report[name]
    assert mirrored_report["replicas"] == 2
    assert report["weights_moved"] > 0.01  # five real SGD steps, the last of 3 rows
    assert report["weights_max_abs_diff"] < 1e-4 * report["weights_moved"]
    for term in ("loss", "reconstruction", "kl"):  # the KL is scaled alike under replicas
        assert report["mirrored"][term] == pytest.approx(report["single"][term], rel=1e-5)
