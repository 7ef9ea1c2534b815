"""The zoo's exceptions: each message is one line that names the problem and the fix."""

import difflib


class ZooError(Exception):
    """Base class of every error the zoo raises on purpose (the CLI prints it as one line)."""


class UnknownModelError(ZooError, KeyError):
    """No builder is registered under the requested name."""

    def __str__(self):  # KeyError would wrap the message in quotes.
        return str(self.args[0])


class OverrideError(ZooError, ValueError):
    """An override is unknown to the builder or has the wrong type or range."""


class DataError(ZooError, ValueError):
    """Input data that a model cannot be trained or evaluated on (shape, range, dtype)."""


class DatasetUnavailableError(ZooError, RuntimeError):
    """A tfds dataset is neither prepared nor downloadable nor in the manual folder."""


class NonFiniteLossError(ZooError, RuntimeError):
    """Training produced a NaN or infinite loss term."""


class ShortEpochError(ZooError, RuntimeError):
    """An epoch trained fewer steps than it should have: its input ran short."""


class RunDirError(ZooError, RuntimeError):
    """An output folder that belongs to another run, or a run folder that is incomplete."""


class NoSpaceError(ZooError, OSError):
    """The file system of an output ran out of space (ENOSPC) while the zoo wrote to it."""


class WeightsError(ZooError, ValueError):
    """A weights file that is missing, unreadable, or does not fit the model."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) during ``zoo.train``: a KeyboardInterrupt whose message says where
    the run stopped and how it goes on."""


class ConfigError(ZooError, ValueError):
    """A training or evaluation setting out of range (epochs, samples, batch size)."""


def require_int(name, value, minimum=1):
    """Raises ConfigError unless ``value`` is an int (not a bool) >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ConfigError(f"{name} must be an int >= {minimum}, got {value!r}")


def unknown_model(name, names):
    """The UnknownModelError for a model ``name`` that is not one of ``names``."""
    return UnknownModelError(f"unknown model '{name}'; {did_you_mean(name, names)}"
                             f"registered models: {', '.join(sorted(names))} (one of your own: "
                             "import its module first, zoo --import MODULE on the command line)")


def no_override(model, name, described):
    """The OverrideError for an override ``name`` that ``model`` does not take;
    ``described``: {override: its description} of those it takes."""
    return OverrideError(f"{model} has no override '{name}'; {did_you_mean(name, described)}"
                         f"it accepts: {'; '.join(described.values())}")


def no_weights(model, weights, names):
    """The UnknownModelError for pretrained ``weights`` that ``model`` does not have;
    ``names``: those it has."""
    hint = did_you_mean(weights, names) if names else ""
    return UnknownModelError(f"{model} has no pretrained weights named '{weights}'; {hint}"
                             + (f"it has: {', '.join(names)}" if names else
                                "see `zoo list --pretrained` for the models that have some"))


def did_you_mean(name, names):
    """``"did you mean 'X'? "`` for the closest of ``names`` to a misspelt ``name``, or "":
    the one name that ``name`` spells in other case (``Fashion_MNIST``) or begins
    (``val``: validation), else the closest by difflib."""
    names, text = [str(each) for each in names], str(name).lower()
    for matches in ([each for each in names if each.lower() == text],
                    [each for each in names if text and each.lower().startswith(text)],
                    difflib.get_close_matches(text, names, n=1)):
        if len(matches) == 1:
            return f"did you mean '{matches[0]}'? "
    return ""
