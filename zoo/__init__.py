"""zoo: a Keras-native model zoo of variational autoencoders on TFP Probabilistic Layers.

    import zoo
    model = zoo.get("cnn_vae", latent_dim=2)   # compiled tf_keras model: x -> p(x|z)
    model.fit(zoo.data.load("binarized_mnist", "train"), epochs=10)
    zoo.evaluate(model, zoo.data.load("binarized_mnist", "test"))   # test ELBO in nats

``import zoo`` imports neither TensorFlow nor a stage: each name below is imported on first
use (``zoo --help`` and a mistyped command answer at once), and TensorFlow's start-up
notices are filtered whoever imports it first (zoo.quiet).
"""

import importlib
import sys
import types

from zoo import quiet
from zoo.version import __version__  # noqa: F401

quiet.install()

# name -> (module, attribute); None: the module itself
_EXPORTS = {
    "RunConfig": ("zoo.config", "RunConfig"), "ZooError": ("zoo.errors", "ZooError"),
    "cpu_replicas": ("zoo.devices", "cpu_replicas"), "data": ("zoo.data", None),
    "disentanglement": ("zoo.disentanglement", "disentanglement"),
    "evaluate": ("zoo.evaluate", "evaluate"), "export": ("zoo.export", "export"),
    "generation": ("zoo.generation", "generation"),
    "get": ("zoo.pretrained", "get"), "interpolate": ("zoo.interpolation", "interpolate"),
    "list": ("zoo.models", "list_models"),
    "load": ("zoo.runs", "load"), "plot": ("zoo.plot", None),
    "register": ("zoo.models", "register"), "samplers": ("zoo.samplers", None),
    "save": ("zoo.runs", "save"),
    "strategy": ("zoo.devices", "strategy"), "train": ("zoo.train", "train"),
    "tune": ("zoo.tune", "tune"),
}
__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    module, attribute = _EXPORTS[name]
    value = importlib.import_module(module)
    if attribute is not None:
        value = getattr(value, attribute)
    setattr(sys.modules[__name__], name, value)
    return value


def __dir__():
    return sorted({*globals(), *_EXPORTS})


class _Package(types.ModuleType):
    """Keeps ``zoo.evaluate``, ``zoo.export``, ``zoo.train``, ``zoo.tune``,
    ``zoo.disentanglement`` and ``zoo.generation`` the functions: importing the stage module
    of the same name would otherwise bind the module there."""

    def __setattr__(self, name, value):
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name, (None, None))[1]:
            self.__dict__.pop(name, None)  # looked up again, as the function, on next use
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
