"""The zoo's weights files: h5 files keyed by each variable's path in the model, as
TensorFlow checkpoints name them (``encoder/layer_with_weights-0/kernel``). Loading matches
every variable by that path and checks its shape, so a file that does not fit the model is
refused in one line naming the first variable that differs, never loaded out of order. A
file also keeps a zoo model's noise seed (and a leaderboard row's file, ``zoo.pretrained``'s
``save_row``, the builder's name and overrides too).
"""

import pathlib

import h5py
import tensorflow as tf
import tf_keras

from zoo.errors import WeightsError
from zoo.files import atomic_path

_OPTIMIZERS = (tf_keras.optimizers.Optimizer, tf_keras.optimizers.legacy.Optimizer)
NOISE_SEED = "zoo_noise_seed"  # an attribute of save_weights's files


class UnreadableWeights(WeightsError):
    """A weights file that is missing or cannot be read (truncated, overwritten), as opposed
    to one that reads but does not fit the model."""


def variables_by_path(model, leave_out=()):
    """``{path: variable}`` for every variable of ``model`` (its optimizers' excluded, and
    those under the model's attributes named in ``leave_out``), keyed by the path
    TensorFlow's checkpoints give it (attribute names, and a layer's place among its model's
    layers): the same for the same builder in any process."""
    found, seen = {}, set()

    def visit(trackable, prefix):
        for name, child in tf.train.TrackableView.children(trackable).items():
            if (isinstance(child, _OPTIMIZERS) or id(child) in seen
                    or (not prefix and name in leave_out)):
                continue
            seen.add(id(child))
            path = f"{prefix}{name}"
            if isinstance(child, tf.Variable):
                found[path] = child
            else:
                visit(child, path + "/")

    visit(model, "")
    return found


def save_weights(model, path, attributes=None, compress=False, leave_out=()):
    """Writes ``model``'s variables (but those under its attributes named in ``leave_out``)
    to the h5 file ``path``, keyed by their paths, with
    ``attributes`` (numbers) on the file, and a zoo model's noise ``seed``, so that the
    reloaded model draws the same posterior noise. ``compress``: h5's lossless gzip with
    byte shuffling (about 9% smaller for trained float32 weights; slower to write)."""
    filters = {"compression": "gzip", "shuffle": True} if compress else {}
    with atomic_path(path) as partial:
        with h5py.File(partial, "w") as weights:
            for name, variable in variables_by_path(model, leave_out).items():
                value = variable.numpy()
                weights.create_dataset(name, data=value, **(filters if value.ndim else {}))
            weights.attrs.update(attributes or {})
            if isinstance(getattr(model, "seed", None), int):
                weights.attrs[NOISE_SEED] = model.seed


def weights_attributes(path):
    """The attributes ``save_weights`` wrote on ``path``; empty if there is no such file."""
    if not pathlib.Path(path).is_file():
        return {}
    with h5py.File(path, "r") as weights:
        return {name: value.item() if hasattr(value, "item") else value
                for name, value in weights.attrs.items()}


def stored_values(model, path):
    """``model.get_weights()`` as the file ``path`` (``save_weights``) holds them, for
    ``model.set_weights``; the model itself is left as it is. A file that does not fit is
    a WeightsError, as in ``load_weights``."""
    variables = variables_by_path(model)
    values, _ = _values_for(path, variables)
    names = {variable.ref(): name for name, variable in variables.items()}
    return [values[names[variable.ref()]] for variable in model.weights]


def readable(path):
    """Whether the h5 file ``path`` exists and every value in it reads."""
    def read(name, item):  # returns None: h5py stops visiting at any other value
        if isinstance(item, h5py.Dataset):
            item[()]

    try:
        with h5py.File(path, "r") as weights:
            weights.visititems(read)
    except Exception:  # noqa: BLE001 - h5py reports damage as OSError, KeyError, RuntimeError
        return False
    return True


def load_weights(model, path, leave_out=()):
    """Loads the weights file ``path`` (``save_weights``) into ``model``: every variable by
    its path (but those under its attributes named in ``leave_out``, left as they are), all
    or nothing; a WeightsError naming the first variable that does not fit. A zoo model
    takes the file's noise seed too (files written before it had none)."""
    variables = variables_by_path(model, leave_out)
    values, seed = _values_for(path, variables)
    if seed is not None and hasattr(model, "reseeded"):
        model.reseeded(int(seed))
    for name, variable in variables.items():
        variable.assign(values[name])


def _values_for(path, variables):
    """``({path: array}, noise seed or None)``: the file ``path``'s value of each of
    ``variables`` (``{path: variable}``), checked to fit them all first."""
    try:
        weights = h5py.File(path, "r")
    except FileNotFoundError:
        raise UnreadableWeights(f"no weights file {path}") from None
    except OSError as error:
        raise UnreadableWeights(f"{path} is not an h5 weights file ({error})") from None
    with weights:
        if "layer_names" in weights.attrs:
            raise WeightsError(f"{path} is a Keras h5 weights file, matched by layer order "
                               "(zoo 0.1); retrain the model with this version")
        stored = {}

        def collect(name, item):  # returns None: h5py stops visiting at any other value
            if isinstance(item, h5py.Dataset):
                stored[name] = item

        weights.visititems(collect)
        for name, variable in variables.items():
            if name not in stored:
                raise WeightsError(f"{path} does not fit the model: it has no {name}; load it "
                                   "into the model it was saved from (see model.json)")
            if tuple(stored[name].shape) != tuple(variable.shape):
                raise WeightsError(
                    f"{path} does not fit the model: its {name} has shape "
                    f"{tuple(stored[name].shape)}, the model's {tuple(variable.shape)}; load "
                    "it into the model it was saved from (see model.json)")
        extra = sorted(set(stored) - set(variables))
        if extra:
            raise WeightsError(f"{path} does not fit the model: it holds {extra[0]}, which "
                               "the model lacks; load it into the model it was saved from "
                               "(see model.json)")
        try:
            values = {name: stored[name][()] for name in variables}
        except (OSError, KeyError, RuntimeError) as error:  # damage behind a header that reads
            raise UnreadableWeights(f"{path} is damaged: its values do not read ({error})"
                                    ) from None
        return values, weights.attrs.get(NOISE_SEED)
