"""Provenance: what a result file records of the code and machine that made it (package
versions, command, CPU and its vector extensions, GPUs, oneDNN, git commit).
"""

import contextlib
import datetime
import os
import pathlib
import platform
import subprocess
import sys
from importlib import metadata

from zoo import compat
from zoo.version import __version__


def now():
    """The time now, UTC, to the second (ISO 8601): when a result or a piece of a run ended."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def environment():
    """Package versions, hardware and git commit, for result files."""
    import tensorflow as tf

    packages = ["tensorflow", "tf-keras", "tensorflow-probability", "tensorflow-datasets",
                "keras-tuner", "numpy"]
    versions = {name: _version(name) for name in packages}
    return {
        "zoo_version": __version__,
        "command": " ".join([_program(), *sys.argv[1:]]),
        "python": sys.version.split()[0],
        "packages": versions,
        "platform": platform.platform(),
        **_cpu(),
        "cpu_count": os.cpu_count(),
        "gpus": [tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
                 for gpu in tf.config.list_physical_devices("GPU")],
        "onednn": compat.onednn_enabled(),
        "git_commit": _git_commit(),
    }


def _program():
    """``zoo`` for the zoo command (also when run as ``python -m zoo.cli``), else the script."""
    program = pathlib.Path(sys.argv[0]).name
    return "zoo" if program in ("zoo", "cli.py") else program


def _version(name):
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


# The vector instruction sets TensorFlow's CPU kernels use: two machines that report one
# model name ("AMD EPYC", 2 cores) can differ by them, and by several times in training speed.
VECTOR_EXTENSIONS = ("avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile",
                     "amx_bf16")


def cpu_flags():
    """Which of ``VECTOR_EXTENSIONS`` this machine's CPU has (None where /proc/cpuinfo is
    not there to say)."""
    return _cpu()["cpu_flags"]


def _cpu():
    with contextlib.suppress(OSError):
        return cpu_description(pathlib.Path("/proc/cpuinfo").read_text())
    return {"cpu": platform.processor() or None, "cpu_flags": None}  # not Linux: unknown


def cpu_description(cpuinfo):
    """``{"cpu": model name, "cpu_flags": [...]}`` from the text of /proc/cpuinfo: the first
    processor's model name and which of ``VECTOR_EXTENSIONS`` its flags list."""
    fields = {}
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    flags = fields.get("flags", "").split()
    return {"cpu": fields.get("model name") or platform.processor() or None,
            "cpu_flags": [flag for flag in VECTOR_EXTENSIONS if flag in flags]}


def _git_commit():
    source = pathlib.Path(__file__).resolve().parent
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=source, capture_output=True,
                                text=True, timeout=10)
        # Changed tracked files outside benchmarks/ (whose result files and weights a
        # benchmark run itself rewrites) mark the code as not that commit's.
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ":(top)", ":(top,exclude)benchmarks"],
                               cwd=source, capture_output=True, text=True, timeout=10)
        if commit.returncode == 0:
            return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    return None
