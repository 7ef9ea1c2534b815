"""Training processes as users start them, for the tests that need a process of its own:
``zoo train`` in a new process, its end, its SIGKILL and resumption, free local ports."""

import json
import os
import signal
import socket
import subprocess
import sys


def zoo_train(*args, env=None, **popen):
    """``zoo train ARGS`` in a new process, as a user runs it."""
    return subprocess.Popen([sys.executable, "-m", "zoo.cli", "train", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}, **popen)


def finished(process, timeout=600):
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return out


def recorded_elbo(folder):
    """The test ELBO (nats, full precision) a run folder's metrics.json records."""
    return json.loads((folder / "metrics.json").read_text())["test"]["elbo_nats"]


def elbo_line(out):
    return next(line for line in out.splitlines() if line.startswith("test ELBO"))


def killed_and_resumed(common, folder):
    """``zoo train COMMON --out FOLDER`` killed by SIGKILL in epoch 3 of 3, then run again to
    its end: the second run's output."""
    interrupted = zoo_train(*common, "--out", folder)
    for line in interrupted.stdout:  # Keras prints "Epoch 3/3" once epoch 2 is backed up
        if line.startswith("Epoch 3/3"):
            interrupted.send_signal(signal.SIGKILL)
            break
    interrupted.wait()
    assert interrupted.returncode == -signal.SIGKILL
    assert (folder / "backup").is_dir()
    assert not (folder / "model.h5").exists()

    resumed = finished(zoo_train(*common, "--out", folder))
    epochs = [line.split()[1] for line in resumed.splitlines() if line.startswith("Epoch ")]
    assert epochs == ["3/3"]  # no finished epoch redone
    assert "resuming at epoch 3 (epochs 1-2 were run before)" in resumed
    recorded = json.loads((folder / "metrics.json").read_text())
    assert recorded["epochs_run"] == 3 and len(recorded["history"]["val_neg_elbo"]) == 3
    assert (folder / "backup").is_dir()  # kept: more epochs continue the run
    return resumed


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for probe in sockets:
        probe.bind(("127.0.0.1", 0))
    ports = [probe.getsockname()[1] for probe in sockets]
    for probe in sockets:
        probe.close()
    return ports
