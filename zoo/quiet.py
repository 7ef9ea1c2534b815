"""Imports TensorFlow without its start-up chatter on stderr.

TensorFlow 2.21 writes eight or so C++ log lines on import and on first finding its devices
(oneDNN notice, "Could not find cuda drivers", CPU-instruction notice, "failed call to
cuInit" on machines without a GPU), before ``TF_CPP_MIN_LOG_LEVEL`` takes effect. They
drown the zoo's one-line errors. ``import_tensorflow`` runs that start-up with stderr
captured and passes on every line except those known notices; unless the user set
``TF_CPP_MIN_LOG_LEVEL``, later C++ INFO lines are hidden too (warnings and errors show).
"""

import os
import re
import sys
import tempfile

_START_UP_NOISE = re.compile(
    r"All log messages before absl::InitializeLog\(\)"
    r"|(port|cudart_stub|cpu_feature_guard|cuda_platform|cuda_executor)\.cc:\d+\]"
    r"|^To enable the following instructions:")


def import_tensorflow():
    """Imports TensorFlow and lists its devices, filtering the start-up notices above."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")  # C++ INFO lines; warnings still show
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as captured:
        os.dup2(captured.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()  # device discovery logs the CUDA notices now
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            captured.seek(0)
            lines = captured.read().decode(errors="replace").splitlines()
    kept = [line for line in lines if not _START_UP_NOISE.search(line)]
    if kept:
        print("\n".join(kept), file=sys.stderr)
