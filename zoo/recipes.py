"""Recipes: the declarative TOML files behind benchmark rows (``recipes/*.toml``).

A recipe holds the fields of ``zoo.RunConfig`` at its top level, the builder's overrides in
an ``[overrides]`` table, and optionally the published number it is compared with::

    model = "mlp_vae"
    dataset = "binarized_mnist"
    epochs = 300
    learning_rate_schedule = "cosine"
    log_likelihood_samples = 5000

    [overrides]
    latent_dim = 32
    hidden_units = [512, 256]

    [reference]
    log_likelihood_nats = -88.71
    source = "Burda et al. 2016 (IWAE), Appendix D, VAE k=1"

``load`` checks every key and type against RunConfig and the builder, naming the file, the
key and what is accepted.
"""

import dataclasses
import pathlib
import typing

from zoo.errors import ConfigError, ZooError
from zoo.config import Plan, RunConfig

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

_FIELDS = {field.name: field for field in dataclasses.fields(RunConfig)}
_TYPES = {str: "a string", bool: "true or false", int: "an int", dict: "a table",
          tuple: "[HEIGHT, WIDTH] or an int"}
REFERENCE_KEYS = {"log_likelihood_nats": (float, "a number of nats"),
                  "log_likelihood_bits_per_dim": (float, "a number of bits per dimension"),
                  "elbo_nats": (float, "a number of nats"),
                  "source": (str, "a string naming the paper table or repository")}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A named run, resolved once (``plan``, a zoo.config.Plan: what ``zoo bench`` trains),
    and the published reference it is compared with."""

    name: str
    plan: Plan
    reference: dict

    @property
    def config(self):
        """The recipe's RunConfig, checked (what its file holds, with the defaults)."""
        return self.plan.config

    def as_toml_dict(self):
        """The recipe as a TOML file holds it: the settings (those left unset, None, out:
        TOML has no null) and the reference."""
        settings = {key: value for key, value in dataclasses.asdict(self.config).items()
                    if value is not None}
        return {**settings, "reference": self.reference}


def load(path, manual_dir=None, data_dir=None):
    """Reads and checks the recipe at ``path``; its name is the file's stem; its data are
    read (at first use) from ``manual_dir`` and ``data_dir``."""
    path = pathlib.Path(path)
    return from_dict(path.stem, _read(path), where=str(path), manual_dir=manual_dir,
                     data_dir=data_dir)


def reference_of(path):
    """The checked ``[reference]`` table of the recipe at ``path`` (``{}`` if it has none),
    the rest of the recipe unread."""
    return _checked_reference(_read(pathlib.Path(path)).get("reference", {}), str(path))


def _read(path):
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"no recipe file {path}; the recipes are in recipes/*.toml") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None


def from_dict(name, content, where="recipe", manual_dir=None, data_dir=None):
    """A checked Recipe from a mapping (what a TOML file holds); its data are read (at first
    use) from ``manual_dir`` and ``data_dir``."""
    content = dict(content)
    reference = _checked_reference(content.pop("reference", {}), where)
    unknown = sorted(set(content) - set(_FIELDS))
    if unknown:
        raise ConfigError(f"{where}: unknown key '{unknown[0]}'; a recipe accepts "
                          f"{', '.join(_FIELDS)} and a [reference] table")
    if "model" not in content:
        raise ConfigError(f"{where}: missing key 'model' (a registered model name, e.g. "
                          "\"mlp_vae\")")
    content = {key: value for key, value in content.items()  # None: left unset, as a
               if value is not None or _FIELDS[key].default is not None}  # result file has it
    for key, value in content.items():
        kind = _kind(_FIELDS[key].type)
        if value is None or not isinstance(value, (list, int) if kind is tuple else kind) or (
                isinstance(value, bool) and kind is not bool):
            raise ConfigError(f"{where}: {key} = {value!r} has the wrong type; "
                              f"{key} accepts {_TYPES[kind]}")
    try:
        plan = RunConfig(**content).plan(manual_dir, data_dir)
    except ZooError as error:
        raise type(error)(f"{where}: {error}") from None
    return Recipe(name, plan, reference)


def write(recipe, path):
    """Writes ``recipe`` as a TOML file that ``load`` reads back to the same recipe."""
    from zoo.files import atomic_path

    fields = recipe.as_toml_dict()
    lines = [f"{key} = {_toml(value)}" for key, value in fields.items()
             if not isinstance(value, dict) and value is not None]
    for table in ("overrides", "reference"):
        if fields[table]:
            lines += ["", f"[{table}]"]
            lines += [f"{key} = {_toml(value)}" for key, value in fields[table].items()]
    with atomic_path(path) as partial:
        partial.write_text("\n".join(lines) + "\n")


def _checked_reference(reference, where):
    if not isinstance(reference, dict):
        raise ConfigError(f"{where}: reference must be a table ([reference])")
    for key, value in reference.items():
        if key not in REFERENCE_KEYS:
            raise ConfigError(f"{where}: unknown key 'reference.{key}'; [reference] accepts "
                              f"{', '.join(REFERENCE_KEYS)}")
        kind, accepts = REFERENCE_KEYS[key]
        if not isinstance(value, (kind, int) if kind is float else kind) or isinstance(
                value, bool):
            raise ConfigError(f"{where}: reference.{key} = {value!r} has the wrong type; "
                              f"it accepts {accepts}")
    return reference


def _kind(annotation):
    """str, bool, int, dict or tuple: the Python type a RunConfig field's annotation asks
    for."""
    return next(t for t in (str, bool, int, dict, tuple) if t is annotation
                or t in typing.get_args(annotation))


def _toml(value):
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)
