"""Pretrained models: a leaderboard row's weights file found in a clone's
``benchmarks/weights/`` or downloaded from ``$ZOO_WEIGHTS_URL``, its SHA-256 checked, and
``get(name, weights=...)``, ``zoo.get``: a registered builder, with a row's trained weights
when asked (as ``keras.applications`` does).
"""

import os
import pathlib

from zoo import files
from zoo.errors import WeightsError
from zoo.models import registry
from zoo.weight_files import load_row, load_weights

ROW_WEIGHTS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks" / "weights"
WEIGHTS_URL_ENV, WEIGHTS_CACHE_ENV = "ZOO_WEIGHTS_URL", "ZOO_WEIGHTS_CACHE"


def get(name, weights=None, **overrides):
    """Builds the registered model ``name`` with ``overrides`` (``registry.get``) and returns
    it, compiled. As in ``keras.applications``, ``weights`` is either the name of a
    leaderboard row's trained weights (``"binarized_mnist"``, say; ``zoo list
    --pretrained``: the row's model as trained, from a clone's ``benchmarks/weights/`` or
    downloaded from ``ZOO_WEIGHTS_URL``, ``pretrained_file``) or the path of a zoo weights
    file (``.h5``: a run's ``model.h5`` or ``best.h5``, a row's file), loaded into the model
    ``name`` with ``overrides`` builds (every variable by its path and shape, else one
    WeightsError line)."""
    if weights is None:
        return registry.get(name, **overrides)
    if isinstance(weights, os.PathLike) or os.sep in weights or weights.endswith(".h5"):
        model = registry.get(name, **overrides)
        load_weights(model, weights)
        return model
    return load_row(pretrained_file(registry.pretrained_entry(name, weights, overrides)))


def pretrained_file(entry):
    """The path of a Pretrained entry's weights file, its SHA-256 checked: a clone's
    ``benchmarks/weights/<row>.h5``, else downloaded from ``$ZOO_WEIGHTS_URL/<row>.h5``
    (``tf_keras.utils.get_file``, cached under ``$ZOO_WEIGHTS_CACHE/zoo_weights``, by
    default ``~/.keras/zoo_weights``)."""
    path = ROW_WEIGHTS / entry.filename
    if not path.is_file():
        base = os.environ.get(WEIGHTS_URL_ENV)
        if not base:
            raise WeightsError(
                f"the weights of zoo.get({entry.builder!r}, weights={entry.weights!r}) "
                f"({entry.filename}) are not "
                f"in {ROW_WEIGHTS} and {WEIGHTS_URL_ENV} is not set; put {entry.filename} "
                f"there (a clone of the zoo has it), or set {WEIGHTS_URL_ENV} to the URL of "
                "a folder that holds it")
        import tf_keras

        cache = os.environ.get(WEIGHTS_CACHE_ENV)
        try:
            if cache:  # Keras would fall back to /tmp/.keras for a folder not made yet
                pathlib.Path(cache).mkdir(parents=True, exist_ok=True)
            path = pathlib.Path(tf_keras.utils.get_file(
                entry.filename, f"{base.rstrip('/')}/{entry.filename}",
                file_hash=entry.sha256, hash_algorithm="sha256", cache_subdir="zoo_weights",
                cache_dir=cache))
        except Exception as error:  # no network, 404, or a file whose hash is wrong
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(
                error).__name__
            raise WeightsError(f"could not fetch {entry.filename} from {base}: {message}; "
                               f"put it in {ROW_WEIGHTS} instead") from None
    found = files.sha256(path)
    if found != entry.sha256:
        raise WeightsError(f"{path} has SHA-256 {found[:16]}..., not the {entry.sha256[:16]}... "
                           f"declared for {entry.row}; it is not that row's file: fetch it "
                           "again")
    return path
