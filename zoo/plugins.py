"""Builders from outside the zoo: modules of one's own that register models, found and
imported (importing this module imports no TensorFlow).

A module that calls ``@zoo.register`` reaches every ``zoo`` command and ``zoo.get`` once it
is imported, which happens for:

- an installed package that names the module in the ``zoo.models`` entry-point group (in
  its pyproject.toml: ``[project.entry-points."zoo.models"]`` ``my_models =
  "my_package.models"``), and every module listed in ``ZOO_PLUGINS`` (comma-separated):
  imported with ``zoo.models``;
- ``zoo --import MODULE`` (repeatable), before the command runs.

A module is imported as Python imports it, from ``PYTHONPATH`` or else the current folder.
A model records the module of its builder (``model.zoo_config["module"]``: in model.json,
``.keras`` files and weights files), and loading it imports that module first, so a run of a
plugin's model reloads in a fresh process without any of the above.
"""

import importlib
import importlib.metadata
import os
import sys

from zoo.errors import ConfigError

GROUP, ENV = "zoo.models", "ZOO_PLUGINS"  # the entry-point group, the environment variable


def import_module(name, source):
    """Imports the module ``name`` (``source``: where it was named, for the error), looking in
    the current folder too; ConfigError in one line if it cannot be imported."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        here = os.getcwd()
        if error.name != name.split(".")[0] or here in sys.path:
            raise _cannot_import(name, source, error) from None
        sys.path.append(here)  # as ``python -m`` finds a module in the current folder
        try:
            return importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - said in one line
            raise _cannot_import(name, source, error) from None
    except Exception as error:  # noqa: BLE001 - the module's own error, said in one line
        raise _cannot_import(name, source, error) from None


def _cannot_import(name, source, error):
    """The one line of a plugin module that was not found, or that was found and raised."""
    detail = str(error).strip().splitlines()[0] if str(error).strip() else ""
    if isinstance(error, ModuleNotFoundError) and error.name == name.split(".")[0]:
        return ConfigError(f"cannot import the plugin module '{name}' ({source}): no module "
                           f"named '{error.name}' here; check that it is installed or on "
                           "PYTHONPATH")
    return ConfigError(f"the plugin module '{name}' ({source}) was found but raised "
                       f"{type(error).__name__} when imported: {detail}; fix the module")


def load_installed():
    """Imports the modules of the ``zoo.models`` entry points and of ``ZOO_PLUGINS``."""
    for entry in importlib.metadata.entry_points(group=GROUP):
        import_module(entry.value.split(":")[0], f"entry point '{entry.name}' of group {GROUP}")
    for name in filter(None, (part.strip() for part in os.environ.get(ENV, "").split(","))):
        import_module(name, ENV)
