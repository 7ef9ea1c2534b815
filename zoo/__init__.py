"""zoo: a Keras-native model zoo of variational autoencoders on TFP Probabilistic Layers.

    import zoo
    model = zoo.get("cnn_vae", latent_dim=2)   # compiled tf_keras model: x -> p(x|z)
    model.fit(zoo.data.load("binarized_mnist", "train"), epochs=10)
    zoo.evaluate(model, zoo.data.load("binarized_mnist", "test"))   # test ELBO in nats
"""

__version__ = "0.1.0"

from zoo.quiet import import_tensorflow

import_tensorflow()

# Imported eagerly: `evaluate`, `export`, `train` and `tune` name both a stage module and its
# function, and binding the functions here, once, keeps `zoo.evaluate(...)` callable.
from zoo import data, plot
from zoo.errors import ZooError
from zoo.evaluate import evaluate
from zoo.export import export
from zoo.models import get, register
from zoo.models import list_models as list  # noqa: A001  (zoo.list(), like timm.list_models)
from zoo.runs import load, save
from zoo.train import RunConfig, cpu_replicas, strategy, train
from zoo.tune import tune

__all__ = ["RunConfig", "ZooError", "cpu_replicas", "data", "evaluate", "export", "get", "list",
           "load", "plot", "register", "save", "strategy", "train", "tune"]
