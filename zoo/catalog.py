"""The zoo's own builders as ``zoo/catalog.json`` records them: each name, its one-line
description and its overrides described. The commands that only look builders up (``zoo
list``, a mistyped model or override name) answer from it in a fraction of a second, where
importing the families means importing TensorFlow (6-10 s on a 2-core CPU).

``python -m zoo.catalog`` writes the file from the live registry; tests/test_registry.py
fails when the two differ. Where a command may reach a plugin's builders (``zoo --import``,
``ZOO_PLUGINS``, an installed package's ``zoo.models`` entry point), it imports the
registry as before (``covers``).
"""

import importlib.metadata
import json
import os
import pathlib

from zoo.errors import no_override, no_weights, unknown_model
from zoo.plugins import ENV, GROUP

PATH = pathlib.Path(__file__).with_name("catalog.json")


def covers(imports=()):
    """True when the catalog lists every builder a command can reach: no module to
    ``--import``, nothing in ``ZOO_PLUGINS``, no installed ``zoo.models`` entry point."""
    return (not imports and not os.environ.get(ENV, "").strip()
            and not importlib.metadata.entry_points(group=GROUP) and PATH.is_file())


def models():
    """``{name: {"description": ..., "overrides": {override: description}, "pretrained":
    [weights names]}}``, by name."""
    return json.loads(PATH.read_text())


def check(name, overrides=()):
    """Raises the registry's one-line UnknownModelError for a model ``name`` it does not
    list, and its OverrideError for an override name that model does not take."""
    listed = models()
    if name not in listed:
        raise unknown_model(name, listed)
    for override in overrides:
        if override not in listed[name]["overrides"]:
            raise no_override(name, override, listed[name]["overrides"])


def check_weights(name, weights):
    """Raises the registry's one-line UnknownModelError for a model or pretrained weights
    name (``zoo.get(name, weights=...)``, ``MODEL:WEIGHTS``) it does not list."""
    listed = models()
    if name not in listed:
        raise unknown_model(name, listed)
    if weights not in listed[name]["pretrained"]:
        raise no_weights(name, weights, listed[name]["pretrained"])


def entries():
    """The catalog of the zoo's own builders as registered now (plugins' left out)."""
    from zoo import pretrained
    from zoo.models import registry

    return {name: {"description": entry.description,
                   "overrides": {field.name: field.describe() for field in entry.fields.values()},
                   "pretrained": pretrained.names(name)}
            for name, entry in sorted(registry.builders().items())
            if entry.build.__module__.startswith("zoo.")}


if __name__ == "__main__":
    PATH.write_text(json.dumps(entries(), indent=1) + "\n")
    print(f"wrote {PATH}")
