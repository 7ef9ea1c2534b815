"""Imports TensorFlow without its start-up chatter on stderr, whoever imports it first; and,
in the zoo's own programs, without Keras 3 (``legacy_keras``).

TensorFlow 2.21 writes eight or so C++ log lines on import and on first finding its devices
(oneDNN notice, "Could not find cuda drivers", CPU-instruction notice, "failed call to
cuInit" on machines without a GPU), before ``TF_CPP_MIN_LOG_LEVEL`` takes effect. They
drown the zoo's one-line errors. ``install()`` (run by ``import zoo``, which imports no
TensorFlow itself) puts a finder first on ``sys.meta_path`` whose loader runs TensorFlow's
import and device discovery with stderr captured, then passes on every line except those
known notices, whether ``zoo.data``, tf_keras or TFP is the first to import it. Unless the
user set ``TF_CPP_MIN_LOG_LEVEL``, later C++ INFO lines are hidden too (warnings and errors
show). ``without_lines`` drops one kind of runtime log message from stderr while a block
runs (the zoo's data checks: TensorFlow logs their failure before the zoo says it in a line).
"""

import contextlib
import importlib.abc
import importlib.util
import os
import re
import sys
import tempfile
import threading

_START_UP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\)"
    r"|(port|cudart_stub|cpu_feature_guard|cuda_platform|cuda_executor)\.cc:\d+\]"
    r"|^To enable the following instructions:")


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as the other finders do, with a loader that filters its start-up."""

    def find_spec(self, name, path, target=None):
        if name != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once; and the search below must not find this finder
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.loader is not None:
            spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader):
        self.loader = loader

    def create_module(self, spec):
        return self.loader.create_module(spec)

    def exec_module(self, module):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # C++ INFO; warnings still show
        sys.stderr.flush()
        saved = os.dup(2)
        with tempfile.TemporaryFile() as captured:
            os.dup2(captured.fileno(), 2)
            try:
                self.loader.exec_module(module)
                module.config.list_physical_devices()  # device discovery logs CUDA notices
            finally:
                os.dup2(saved, 2)
                os.close(saved)
                captured.seek(0)
                lines = captured.read().decode(errors="replace").splitlines()
        kept = [line for line in lines if not _START_UP_NOISE.search(line)]
        if kept:
            print("\n".join(kept), file=sys.stderr)


@contextlib.contextmanager
def without_lines(pattern):
    """Passes on what the block writes to stderr (file descriptor 2, C++ logs included),
    line by line as it comes, except each line that matches ``pattern`` and the indented
    ``[[...]]`` lines (TensorFlow's node names) that follow it. For one thread's blocks
    (nested ones too); a child process started inside holds the pipe open, so the end waits
    at most a few seconds for it and then leaves the forwarder to finish on its own."""
    sys.stderr.flush()
    saved, forwarder = os.dup(2), None
    try:
        read, write = os.pipe()
        os.dup2(write, 2)
        os.close(write)
        forwarder = threading.Thread(target=_forward, args=(read, saved, re.compile(pattern)),
                                     daemon=True)
        forwarder.start()
        yield
    finally:
        sys.stderr.flush()
        os.dup2(saved, 2)  # the pipe's last writer closes: the forwarder reads to its end
        if forwarder is not None:
            forwarder.join(timeout=5)
        if forwarder is None or not forwarder.is_alive():  # else it still writes to saved
            os.close(saved)


def _forward(read, out, pattern):
    dropping = False
    with os.fdopen(read, "rb") as pipe:
        for line in pipe:
            text = line.decode(errors="replace")
            dropping = bool(pattern.search(text)) or (dropping and text.lstrip().startswith("[["))
            if not dropping:
                os.write(out, line)


def install():
    """Filters TensorFlow's start-up when it is imported next (nothing if it already is)."""
    if "tensorflow" not in sys.modules and not any(
            isinstance(finder, _QuietFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietFinder())


LEGACY_KERAS_VARIABLE = "TF_USE_LEGACY_KERAS"  # "1": TensorFlow's tf.keras is tf_keras


def legacy_keras():
    """For the zoo's own programs (the ``zoo`` command, the benchmark scripts): ``tf.keras``
    routed to tf_keras, the Keras 2 that every zoo model is made of (``TF_USE_LEGACY_KERAS=1``,
    unless the environment sets it already; nothing once TensorFlow is imported). TensorFlow
    then imports tf_keras's optimizers at start-up instead of all of Keras 3 and the
    scikit-learn it pulls in: 3.5 s less of the 10 s ``import tensorflow`` takes on the 2-core
    CI machine, in every command. The models, their numbers and files are the same either way
    (the zoo never uses ``tf.keras``); keras-tuner still imports Keras 3 itself. A library
    user's process is left alone: ``import zoo`` does not call this."""
    if "tensorflow" not in sys.modules:
        os.environ.setdefault(LEGACY_KERAS_VARIABLE, "1")
