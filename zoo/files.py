"""Files the zoo writes whole or not at all, and the JSON records it reads back.

Every file is written under a temporary name and renamed (``atomic_path``), so an
interrupted process leaves no half-written file. ``read_json`` turns a missing, damaged or
incomplete record (a run.json, model.json or result file) into one line naming the file.
"""

import collections.abc
import contextlib
import errno
import hashlib
import json
import os
import pathlib
import threading

from zoo.errors import ConfigError, NoSpaceError, RunDirError


@contextlib.contextmanager
def writing(path):
    """Turns an OSError raised in the block (a folder that cannot be made or written, a
    parent that is a file) into one ConfigError line naming ``path``."""
    try:
        yield
    except NoSpaceError:
        raise
    except OSError as error:
        if no_space(error):
            raise no_space_writing(path) from None
        raise ConfigError(f"cannot write {path} ({error.strerror or error}); pick a folder "
                          "you can write to") from None


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside ``path``; renames it to ``path`` if the block succeeds.
    The temporary name is the process's and thread's own: processes writing one file at once
    (a search's chief and workers claiming its folder) each rename a whole file of their own
    (a shared name once lost one of them its file between the other's write and rename). A
    full file system is a NoSpaceError naming ``path`` (h5py's own says errno 28 in 600
    characters of HDF5 text)."""
    path = pathlib.Path(path)
    # (the same suffix: Keras reads it)
    partial = path.with_name(f".partial.{os.getpid()}.{threading.get_ident()}.{path.name}")
    try:
        yield partial
        os.replace(partial, path)
    except (OSError, RuntimeError) as error:  # h5py: a RuntimeError at close, over ENOSPC
        if no_space(error):
            raise no_space_writing(path) from None
        raise
    finally:
        partial.unlink(missing_ok=True)


def no_space(error):
    """Whether ``error`` (an OSError, h5py's or TensorFlow's error), or one it arose from,
    is a full file system."""
    while error is not None:
        if (getattr(error, "errno", None) == errno.ENOSPC or "errno = 28," in str(error)
                or "No space left on device" in str(error)):
            return True
        error = error.__context__
    return False


def no_space_writing(path):
    """The NoSpaceError of a write to ``path`` that found its file system full."""
    return NoSpaceError(f"no space left on device writing {path}; free space there or pick "
                        "another --out (the same command then resumes a training run)")


def write_json(path, content):
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(content, indent=2, default=_jsonable) + "\n")


def json_roundtrip(content):
    """``content`` as it reads back from JSON (tuples as lists), for comparisons."""
    return json.loads(json.dumps(content, default=_jsonable))


class _Record(dict):
    """A JSON object read from a zoo file: a key it lacks is a RunDirError naming the file
    (a damaged or hand-edited run.json, model.json or result file), not a bare KeyError."""

    def __init__(self, path, items):
        super().__init__(items)
        self.path = path

    def __missing__(self, key):
        raise RunDirError(f"{self.path} has no '{key}': it is damaged or not the zoo's; "
                          "re-run what wrote it")


def read_json(path):
    """The JSON object in ``path`` (a zoo file); RunDirError in one line if it is missing,
    not valid JSON, not an object, or lacks a key the caller reads."""
    try:
        content = json.loads(pathlib.Path(path).read_text(),
                             object_hook=lambda items: _Record(path, items))
    except FileNotFoundError:
        raise RunDirError(f"{path} is missing; is {pathlib.Path(path).parent} a zoo run "
                          "folder of a finished run?") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RunDirError(f"{path} is not valid JSON ({error}); re-run the training") from None
    if not isinstance(content, dict):
        raise RunDirError(f"{path} holds {type(content).__name__}, not the zoo's JSON object; "
                          "it is damaged: re-run what wrote it")
    return content


def plain(value):
    """Plain dicts and lists in place of Keras's tracking wrappers (as a model's
    ``zoo_config`` is held), for JSON."""
    if isinstance(value, collections.abc.Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, collections.abc.Sequence) and not isinstance(value, str):
        return [plain(item) for item in value]
    return value


def _jsonable(value):
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if isinstance(value, (tuple, set)):
        return list(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def sha256(path):
    """The SHA-256 of the file ``path``, as hex."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
