"""The test suite's time as CI sees it: ``.ci/run`` in a fresh clone of this checkout's HEAD.

    python benchmarks/suite.py [--out benchmarks/results/suite-cpu.json] [--pytest-args "-n 3"]

Clones HEAD into a temporary folder (the committed files only, as CI gets them), points the
tests at this checkout's tfds source files (``ZOO_MANUAL_DIR``, else ``../shared/datasets``),
runs ``.ci/run`` there (a fresh virtual environment, README's install command, then its test
command) and writes a result file with the environment (commit, package versions, CPU): the
wall time of the whole ``.ci/run`` and pytest's own time for the test command, how many
tests passed, failed, errored and were skipped, each test file's seconds summed over the
workers (setup, call and teardown, from a JUnit XML report), the 20 slowest tests, and the
machine's CPU seconds meanwhile by kind (user, system, idle, steal) and the least memory it
had available. ``--pytest-args`` adds options to README's test command (in
``PYTEST_ADDOPTS``, recorded in the file): another worker count to try, say. On this
shared virtual machine nearly the same suite took 12.4 to 17.2 minutes from one hour to the
next (the results/suite-cpu*.json files); steal (3 to 122 s of it) was the smaller part, the
rest more user seconds for the same work.
README's Tests section quotes this file. A failed run is recorded too (with the end of its
output), and the script then exits 1. Run nothing else meanwhile: on a machine of two cores
another job's load shows in every figure.
"""

import argparse
import collections
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ElementTree

HERE = pathlib.Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO))  # this checkout's zoo
from zoo import quiet  # noqa: E402  (imports no TensorFlow)

quiet.legacy_keras()


def junit_summary(path):
    """Counts, pytest's time, per-file seconds, every test of a second or more (slowest
    first) and the failed ones (with the first 500 characters of their message) of a JUnit
    XML report."""
    root = ElementTree.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    files, tests, failed = collections.Counter(), [], []
    for case in suite.iter("testcase"):
        seconds = float(case.get("time", 0))
        module = case.get("classname", "").rsplit(".", 1)[-1]
        files[f"tests/{module}.py"] += seconds
        tests.append((seconds, f"tests/{module}.py::{case.get('name')}"))
        for problem in (*case.findall("failure"), *case.findall("error")):
            failed.append({"test": tests[-1][1], "message": (problem.get("message") or "")[:500]})
    counts = {key: int(suite.get(key, 0)) for key in ("tests", "failures", "errors", "skipped")}
    counts["passed"] = counts["tests"] - counts["failures"] - counts["errors"] - counts["skipped"]
    return {"counts": counts, "test_command_seconds": float(suite.get("time", 0)),
            "file_seconds": {name: round(seconds, 1) for name, seconds in files.most_common()},
            "worker_seconds": round(sum(files.values()), 1), "failed": failed,
            "slowest": [{"test": name, "seconds": round(seconds, 1)}
                        for seconds, name in sorted(tests, reverse=True) if seconds >= 1.0]}


def cpu_times():
    """The machine's CPU seconds so far by kind, summed over its cores (Linux's /proc/stat;
    {} elsewhere). ``steal``: time the hypervisor gave this virtual machine's cores to
    others."""
    try:
        fields = pathlib.Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    except OSError:
        return {}
    ticks = os.sysconf("SC_CLK_TCK")
    names = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
    return {name: int(value) / ticks for name, value in zip(names, fields)}


class LeastMemoryAvailable:
    """The least ``MemAvailable`` of /proc/meminfo (GiB) seen by a thread that reads it every
    2 seconds while the block runs (None where there is no /proc)."""

    def __enter__(self):
        self.gib, self.stop = None, threading.Event()
        self.thread = threading.Thread(target=self._watch, daemon=True)
        self.thread.start()
        return self

    def _watch(self):
        while not self.stop.wait(2):
            try:
                line = next(line for line in pathlib.Path("/proc/meminfo").read_text()
                            .splitlines() if line.startswith("MemAvailable:"))
            except (OSError, StopIteration):
                return
            gib = int(line.split()[1]) / 2**20
            self.gib = gib if self.gib is None else min(self.gib, gib)

    def __exit__(self, *exc_info):
        self.stop.set()
        self.thread.join()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default=str(HERE / "results" / "suite-cpu.json"))
    parser.add_argument("--pytest-args", default="",
                        help="options added to the test command, e.g. '-n 3'")
    args = parser.parse_args(argv)
    manual_dir = pathlib.Path(os.environ.get("ZOO_MANUAL_DIR",
                                             REPO.parent / "shared" / "datasets"))
    if not (manual_dir / "binarized_mnist").is_dir():
        parser.error(f"the tfds source files are not in {manual_dir}; set ZOO_MANUAL_DIR to the "
                     "folder holding binarized_mnist/ and fashion_mnist/")
    from zoo import provenance

    environment = provenance.environment()
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout.strip()
    with tempfile.TemporaryDirectory() as scratch:
        clone, report = pathlib.Path(scratch) / "zoo", pathlib.Path(scratch) / "junit.xml"
        subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
        env = {key: value for key, value in os.environ.items()  # as a fresh shell: no venv
               if key not in ("VIRTUAL_ENV", quiet.LEGACY_KERAS_VARIABLE)}
        if os.environ.get("VIRTUAL_ENV"):
            env["PATH"] = os.pathsep.join(
                entry for entry in env.get("PATH", "").split(os.pathsep)
                if pathlib.Path(entry) != pathlib.Path(os.environ["VIRTUAL_ENV"]) / "bin")
        env.update(ZOO_MANUAL_DIR=str(manual_dir),
                   PYTEST_ADDOPTS=f"--junitxml={report} {args.pytest_args}".strip())
        print(f"running .ci/run in a fresh clone of {commit[:7]} (about 20 minutes)",
              flush=True)
        started, cpu_before = time.monotonic(), cpu_times()
        with LeastMemoryAvailable() as memory:
            done = subprocess.run(["bash", ".ci/run"], cwd=clone, env=env,
                                  capture_output=True, text=True)
        seconds, cpu_after = time.monotonic() - started, cpu_times()
        result = {"tested_commit": commit, "command": "bash .ci/run (fresh clone)",
                  "pytest_args": args.pytest_args,
                  "ci_run_seconds": round(seconds, 1), "returncode": done.returncode,
                  "machine_cpu_seconds": {name: round(cpu_after[name] - cpu_before[name], 1)
                                          for name in cpu_after},
                  "least_memory_available_gib": memory.gib and round(memory.gib, 1),
                  **(junit_summary(report) if report.exists() else {}),
                  "environment": environment}
    if done.returncode:
        result["output_tail"] = (done.stdout + done.stderr)[-3000:]
    out = pathlib.Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1) + "\n")
    counts = result.get("counts", {})
    print(f".ci/run: {seconds / 60:.1f} min, exit {done.returncode}; test command "
          f"{result.get('test_command_seconds', 0) / 60:.1f} min; {counts}")
    print(f"result file: {out}")
    return 1 if done.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
