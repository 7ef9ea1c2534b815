"""The model registry: ``@register(name)`` on a builder, ``get(name, **overrides)`` to build.

A builder is a function whose keyword parameters are its overrides. Each parameter has a
default and an annotation the registry can check: ``int``, ``float``, ``str``, ``bool``,
``Literal[...]`` of strings, ``tuple[int, ...]``, or one of the checked types below, which
add a range (``PositiveInt``, ``Widths``, ``one_of(...)``). So the registry validates an
override (name, type, range) before any TensorFlow code runs, and the CLI parses one from
text::

    @register("my_vae")
    def my_vae(latent_dim: PositiveInt = 16, learning_rate: float = 1e-3,
               kernel: Literal["imq", "rbf"] = "imq"):
        \"\"\"One-line description shown by ``zoo list``.\"\"\"
        ...
        return model
"""

import dataclasses
import inspect
import typing
from typing import Annotated, Any, Callable

from zoo.errors import ConfigError, OverrideError, UnknownModelError, no_override, unknown_model
from zoo import plugins


@dataclasses.dataclass(frozen=True)
class Check:
    """What an override accepts: a Python type, a predicate and its plain-words description."""

    kind: type
    test: Callable[[Any], bool]
    accepts: str


def _positive_ints(value):
    return len(value) > 0 and all(isinstance(v, int) and not isinstance(v, bool) and v >= 1
                                  for v in value)


PositiveInt = Annotated[int, Check(int, lambda v: v >= 1, "an int >= 1")]
NonNegativeInt = Annotated[int, Check(int, lambda v: v >= 0, "an int >= 0")]
PositiveFloat = Annotated[float, Check(float, lambda v: v > 0, "a float > 0")]
NonNegativeFloat = Annotated[float, Check(float, lambda v: v >= 0, "a float >= 0")]
UnitFloat = Annotated[float, Check(float, lambda v: 0 <= v <= 1, "a float from 0 to 1")]
Widths = Annotated[tuple, Check(tuple, _positive_ints,
                                "a non-empty list of ints >= 1")]
ImageShape = Annotated[tuple, Check(tuple, lambda v: len(v) == 3 and _positive_ints(v),
                                    "(height, width, channels) ints >= 1, e.g. 28,28,1")]
# The number of training examples, which zoo.train and zoo.tune pass to the builder unless
# the run sets it (beta_tcvae's dataset_size: its estimator needs the true N).
_TRAINING_SET_SIZE = Check(int, lambda v: v >= 1,
                           "an int >= 1, the training set's size (zoo train sets it)")
TrainingSetSize = Annotated[int, _TRAINING_SET_SIZE]


_PLAIN = {int: Check(int, lambda v: True, "an int"),
          float: Check(float, lambda v: True, "a float"),
          str: Check(str, lambda v: True, "a string"),
          bool: Check(bool, lambda v: True, "true or false")}


def check_of(annotation):
    """The Check of a builder parameter's annotation: a checked type's (PositiveInt, ...),
    or one made for a plain ``int``, ``float``, ``str``, ``bool``, ``Literal[...]`` of
    strings or ``tuple[int, ...]``; None for any other."""
    checks = [m for m in getattr(annotation, "__metadata__", ()) if isinstance(m, Check)]
    if checks:
        return checks[0]
    if annotation in _PLAIN:
        return _PLAIN[annotation]
    if typing.get_origin(annotation) is typing.Literal and all(
            isinstance(value, str) for value in typing.get_args(annotation)):
        return one_of(*typing.get_args(annotation)).__metadata__[0]
    if typing.get_origin(annotation) is tuple and typing.get_args(annotation) == (int, ...):
        return Check(tuple, lambda v: all(isinstance(x, int) and not isinstance(x, bool)
                                          for x in v), "a list of ints")
    return None


def one_of(*values):
    """An override that takes one of the strings ``values`` (annotate with ``one_of(...)``)."""
    return Annotated[str, Check(str, lambda v: v in values,
                                "one of " + ", ".join(repr(v) for v in values))]


@dataclasses.dataclass(frozen=True)
class IntRange:
    """A search range of ints, ``low`` to ``high`` inclusive (log-uniform with ``log``)."""

    low: int
    high: int
    log: bool = False


@dataclasses.dataclass(frozen=True)
class FloatRange:
    """A search range of floats, ``low`` to ``high`` (log-uniform with ``log``)."""

    low: float
    high: float
    log: bool = True


@dataclasses.dataclass(frozen=True)
class Choice:
    """A search over listed values, written as the command line writes them (``"512,256"``)."""

    values: tuple


@dataclasses.dataclass(frozen=True)
class Field:
    """One override of one builder."""

    builder: str
    name: str
    default: Any
    check: Check

    def describe(self):
        return f"{self.name} ({self.check.accepts}, default {_show(self.default)})"

    def validate(self, value):
        """Returns ``value`` in canonical form, or raises OverrideError naming the field."""
        kind = self.check.kind
        if isinstance(value, str) and kind is not str:  # "32,32,3", as on the command line
            return self.parse(value)
        if kind is tuple and isinstance(value, list):
            value = tuple(value)
        elif kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if (not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool)
                or not self.check.test(value)):
            raise OverrideError(f"{self.builder}: override {self.name}={value!r} is invalid; "
                                f"{self.name} accepts {self.check.accepts}")
        return value

    def parse(self, text):
        """Parses command-line text (``32``, ``1e-3``, ``512,256``) and validates it."""
        parse_one = {tuple: int, bool: _boolean}.get(self.check.kind, self.check.kind)
        unread = OverrideError(f"{self.builder}: cannot read {self.name}={text!r}; "
                               f"{self.name} accepts {self.check.accepts}, written as "
                               f"{self.name}={_show(self.default)}")
        try:
            parts = [parse_one(p) for p in text.split(",") if p.strip()]
        except ValueError:
            raise unread from None
        if self.check.kind is not tuple and len(parts) != 1:
            raise unread
        return self.validate(tuple(parts) if self.check.kind is tuple else parts[0])


@dataclasses.dataclass(frozen=True)
class Builder:
    """A registered model builder and the overrides it accepts."""

    name: str
    build: Callable[..., Any]
    description: str
    fields: dict
    space: dict = dataclasses.field(default_factory=dict)
    elbo: bool = True

    @property
    def monitor(self):
        """The validation number a run of this builder's models watches by default: the
        -ELBO, or, for a model without one (``elbo=False``), its loss."""
        return "val_neg_elbo" if self.elbo else "val_loss"

    def defaults(self):
        return {name: field.default for name, field in self.fields.items()}

    def field(self, name):
        """The Field called ``name``, or an OverrideError listing what this builder accepts."""
        if name not in self.fields:
            raise no_override(self.name, name, {n: f.describe() for n, f in self.fields.items()})
        return self.fields[name]

    def validate(self, overrides):
        return {name: self.field(name).validate(value) for name, value in overrides.items()}

    def training_set_size_fields(self):
        """The names of the parameters annotated ``TrainingSetSize``."""
        return [name for name, field in self.fields.items() if field.check is _TRAINING_SET_SIZE]

    def model(self, overrides):
        """The model built with ``overrides``, already checked (``validate``), compiled,
        carrying ``zoo_config`` (see ``get``)."""
        model = self.build(**overrides)
        if getattr(model, "has_elbo", True) != self.elbo:
            has = "has no ELBO (its objective reports no bound)" if self.elbo else "has an ELBO"
            raise TypeError(f"builder {self.name}: its model {has}, but it is registered "
                            f"with elbo={self.elbo}; register it with elbo={not self.elbo}")
        model.zoo_config = {"name": self.name, "overrides": overrides}
        if self.build.__module__ != "__main__":  # a script's own builders: not importable
            model.zoo_config["module"] = self.build.__module__
        if model.dtype_policy.name != "float32":  # built under a global mixed policy
            model.zoo_config["dtype_policy"] = model.dtype_policy.name
        return model


_BUILDERS = {}


def register(name, space=None, elbo=True):
    """Decorator that registers a builder under ``name`` (see the module docstring).

    ``space`` is its hyperparameter search space for ``zoo tune``: override name ->
    IntRange, FloatRange or Choice. ``elbo=False`` for a model without an ELBO (an
    autoencoder whose codes are a point mass: ``model.has_elbo``), which runs then watch
    by ``val_loss`` (``Builder.monitor``); building one that says otherwise is refused.
    """

    def decorate(build):
        if name in _BUILDERS:
            raise ValueError(f"a model named '{name}' is already registered "
                             f"(by {_BUILDERS[name].build.__module__}); pick another name")
        hints = typing.get_type_hints(build, include_extras=True)
        fields = {}
        for param in inspect.signature(build).parameters.values():
            if param.default is inspect.Parameter.empty:
                raise TypeError(f"builder {name}: parameter '{param.name}' needs a default "
                                "(every parameter is an override)")
            check = check_of(hints.get(param.name))
            if check is None:
                raise TypeError(
                    f"builder {name}: parameter '{param.name}' needs an annotation the zoo "
                    f"can check, not {hints.get(param.name, 'none')!r}: int, float, str, "
                    "bool, Literal[...], tuple[int, ...], or a type with a range such as "
                    "PositiveInt (zoo.models.registry)")
            fields[param.name] = Field(name, param.name, param.default, check)
            try:  # a default its own check refuses: said now, not at the first override
                fields[param.name].validate(param.default)
            except OverrideError:
                raise TypeError(f"builder {name}: parameter '{param.name}' defaults to "
                                f"{param.default!r}, which its annotation refuses ("
                                f"{check.accepts})") from None
        description = (inspect.getdoc(build) or "").split("\n")[0]
        unknown = sorted(set(space or {}) - set(fields))
        if unknown:
            raise TypeError(f"builder {name}: search space names '{unknown[0]}', which is not "
                            f"one of its parameters ({', '.join(fields)})")
        _BUILDERS[name] = Builder(name, build, description, fields, dict(space or {}), elbo)
        return build

    return decorate


def unregister(name):
    """Removes the builder registered as ``name``, so that ``name`` can be registered again:
    for tests and notebooks that register a builder of their own. UnknownModelError if no
    builder has that name."""
    builder(name)  # the one-line error, with the closest name
    del _BUILDERS[name]


def builder(name):
    """The Builder registered as ``name``, or UnknownModelError with the closest name."""
    if name not in _BUILDERS:
        raise unknown_model(name, _BUILDERS)
    return _BUILDERS[name]


def builders():
    """Every registered Builder, by name."""
    return dict(_BUILDERS)


def get(name, **overrides):
    """Builds the registered model ``name`` with ``overrides`` and returns it, compiled.

    The returned model carries ``model.zoo_config = {"name": ..., "overrides": {...},
    "module": ...}`` (and ``"dtype_policy"`` where Keras's global policy was not float32,
    ``zoo.precision``), all ``rebuild`` needs to make it again. (``zoo.get`` also takes
    ``weights=``: ``zoo.pretrained.get``.)
    """
    entry = builder(name)
    if "weights" in overrides:
        raise OverrideError(f"{name}: pretrained weights come with zoo.get({name!r}, "
                            "weights=...) (zoo.pretrained.get), not as an override")
    return entry.model(entry.validate(overrides))


def rebuild(config):
    """The model of a saved ``zoo_config`` (model.json, a ``.keras`` or weights file):
    ``get(name, **overrides)``, after importing the module that registered the builder if
    it is not registered yet (a plugin's; ``zoo.plugins``)."""
    name, module = config["name"], config.get("module")
    if name not in _BUILDERS and module:
        try:
            plugins.import_module(module, f"it registered the model '{name}'")
        except ConfigError as error:
            raise UnknownModelError(f"unknown model '{name}': {error}") from None
    from zoo import precision  # (TensorFlow's: imported once a model is built)
    # the policy it was built under (none recorded: float32, whatever the global one)
    with precision.policy(config.get("dtype_policy") or "float32"):
        return get(name, **config["overrides"])


def list_models():
    """``{name: one-line description}`` for every registered builder, sorted by name."""
    return {name: _BUILDERS[name].description for name in sorted(_BUILDERS)}


def _boolean(text):
    """``true``/``false`` (``1``/``0``, ``yes``/``no``) as the command line writes a bool."""
    words = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}
    if text.strip().lower() not in words:
        raise ValueError(text)
    return words[text.strip().lower()]


def _show(value):
    return ",".join(map(str, value)) if isinstance(value, tuple) else repr(value)
