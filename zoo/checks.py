"""Checks on image data before and while it reaches a model: shape, dtype and range.

Arrays are checked at once. A ``tf.data.Dataset`` is checked statically (shape, dtype) and
then batch by batch inside the pipeline; ``reported_as_data_errors`` turns a failed batch
check into a one-line DataError instead of a TensorFlow traceback.
"""

import contextlib
import re
import warnings

import numpy as np
import tensorflow as tf

from zoo import quiet
from zoo.errors import DataError

_RANGE_MESSAGE = "zoo: pixel values outside what the likelihood models"
_FINITE_MESSAGE = "zoo: NaN or infinite pixel values"
NON_FINITE = ("NaN or infinite values", "replace or drop them where the data are made "
              "(np.isfinite finds them); scaling does not remove them")
# What each likelihood's data hold (its ``data``, zoo.models.likelihoods), and the fix.
KINDS = {
    "binary": ("pixel values outside [0, 1]",
               "the Bernoulli decoder needs pixels in [0, 1]: divide uint8 images by 255 (and "
               "binarize them, see zoo.data)"),
    "unit": ("pixel values outside [0, 1]",
             "this likelihood is a density on [0, 1]: divide uint8 images by 255"),
    "8bit": ("pixel values that are not 8-bit levels k/255 in [0, 1]",
             "the logistic mixture models 8-bit pixels: pass uint8 images divided by 255 "
             "(zoo.data.load with binarization='none'), or use likelihood='gaussian' or "
             "'continuous_bernoulli' for other values"),
    "real": NON_FINITE,
}
GREY_WARNING = ("{what} has grey values strictly between 0 and 1, and this model's decoder "
                "is Bernoulli, whose likelihood is for binary pixels: it trains, but its ELBO "
                "and log p(x) are not likelihoods of grey images. Binarize the images "
                "(zoo.data.load does: static or dynamic), or build the model with another "
                "likelihood (likelihood='continuous_bernoulli', 'gaussian' or "
                "'logistic_mixture')")
_warned = []


def warn_if_grey(x, what="training data"):
    """``x``, after a warning, once per process, if its images hold values strictly inside
    (0, 1): for a Bernoulli decoder, which wants {0, 1}. Arrays are checked whole now; a
    tf.data.Dataset is returned with each batch checked in the graph as it passes, Python
    called only for a grey batch (reading a batch ahead would move the dataset's random
    state and change the user's training)."""
    if isinstance(x, tf.data.Dataset):
        return x if _warned else x.map(_grey_batch_check)
    if not _warned and isinstance(x, (np.ndarray, tf.Tensor)):
        _warn_if_grey_values(np.asarray(x), what)
    return x


def warn_grey(what="training data"):
    """The grey-pixels warning, once per process."""
    if not _warned:
        _warned.append(what)
        warnings.warn(GREY_WARNING.format(what=what), UserWarning, stacklevel=4)


def reset_warnings():
    """Forgets that the grey-pixels warning was given, so that the next grey data warn
    again (it is given once per process): for tests, or a notebook that starts over."""
    _warned.clear()


def _warn_if_grey_values(values, what="training data"):
    if not _warned and np.any((values > 0) & (values < 1)):
        warn_grey(what)


def _grey_batch_check(images, *rest):
    def warn():
        return tf.py_function(lambda batch: (_warn_if_grey_values(batch.numpy()), batch)[1],
                              [images], images.dtype)

    grey = tf.reduce_any(tf.logical_and(images > 0, images < 1))
    checked = tf.cond(grey, warn, lambda: images)
    checked.set_shape(images.shape)
    return (checked, *rest) if rest else checked


def checked_images(x, image_shape, what="data", data="binary"):
    """Returns ``x`` after checking it holds batches of images of ``image_shape`` whose
    values the likelihood models: ``data`` is the head's kind (KINDS: binary and unit in
    [0, 1], 8bit the levels k/255, real any finite value).

    ``x`` may be a NumPy array or tensor (checked now, returned as is), or a
    ``tf.data.Dataset`` yielding ``x`` or ``(x, ...)`` (spec checked now; returned with a
    value check on every batch). Other inputs pass unchecked.
    """
    if isinstance(x, tf.data.Dataset):
        spec = x.element_spec[0] if isinstance(x.element_spec, tuple) else x.element_spec
        _check_shape(spec.shape, image_shape, what)
        _check_dtype(spec.dtype.as_numpy_dtype, what)
        return x.map(lambda images, *rest: _asserted(data, images, *rest))
    if isinstance(x, (np.ndarray, tf.Tensor)):
        _check_shape(x.shape, image_shape, what)
        values = np.asarray(x)
        _check_dtype(values.dtype, what)
        if not bool(_valid(data, values).all()):
            finite = values[np.isfinite(values)]
            found, fixes = [], []
            if not bool(_valid(data, finite).all()):
                found.append("values that are not 8-bit levels k/255" if data == "8bit" else
                             f"values in [{finite.min():g}, {finite.max():g}]")
                fixes.append(KINDS[data][1])
            if finite.size < values.size:
                found.append(NON_FINITE[0])
                fixes.append(NON_FINITE[1])
            raise DataError(f"{what} has {' and '.join(found)}; {'; '.join(fixes)}")
    return x


@contextlib.contextmanager
def reported_as_data_errors(what="data", data="binary"):
    """Turns the in-pipeline value check's failure into a one-line DataError (and keeps
    TensorFlow's log of that failure off stderr)."""
    try:
        with quiet.without_lines(re.escape(_FINITE_MESSAGE) + "|" + re.escape(_RANGE_MESSAGE)):
            yield
    except tf.errors.InvalidArgumentError as error:
        if _FINITE_MESSAGE in error.message:
            problem, fix = NON_FINITE
        elif _RANGE_MESSAGE in error.message:
            problem, fix = KINDS[data]
        else:
            raise
        raise DataError(f"{what} has a batch with {problem}; {fix}") from None


def _valid(data, values):
    """Which of ``values`` (NumPy or TensorFlow) the likelihood kind ``data`` models."""
    module = tf.math if tf.is_tensor(values) else np
    valid = tf.math.is_finite(values) if tf.is_tensor(values) else np.isfinite(values)
    if data == "real":
        return valid
    valid = valid & (values >= 0) & (values <= 1)
    if data == "8bit":
        levels = values * 255
        valid = valid & (abs(levels - module.round(levels)) < 1e-3)
    return valid


def _asserted(data, images, *rest):
    finite = tf.reduce_all(tf.math.is_finite(images))
    valid = tf.reduce_all(_valid(data, images))
    problem = tf.where(finite, _RANGE_MESSAGE, _FINITE_MESSAGE)  # NaN first: its fix differs
    with tf.control_dependencies([tf.debugging.Assert(valid, [problem])]):
        images = tf.identity(images)
    return (images, *rest) if rest else images


def _check_dtype(dtype, what):
    if not np.issubdtype(dtype, np.floating):
        raise DataError(f"{what} has dtype {np.dtype(dtype).name}; pass float images in "
                        f"[0, 1], e.g. tf.cast(images, tf.float32) / 255 for uint8 images")


def _check_shape(shape, image_shape, what):
    shape = tuple(tf.TensorShape(shape).as_list())
    if len(shape) != len(image_shape) + 1 or any(
            got is not None and got != want for got, want in zip(shape[1:], image_shape)):
        raise DataError(f"{what} has shape {shape}, but the model takes batches of shape "
                        f"(batch, {', '.join(map(str, image_shape))}); {_shape_fix(shape)}")


def _shape_fix(shape):
    """What makes data of ``shape`` (batch first) fit a model, in words."""
    if len(shape) == 3:
        return ("add a channel axis (x[..., None]), or build the model with input_shape="
                f"{','.join(map(str, shape[1:]))},1")
    if len(shape) == 4:
        return ("reshape the data, or build the model with input_shape="
                f"{','.join(map(str, shape[1:]))} (Python: input_shape={tuple(shape[1:])})")
    return "reshape the data to (batch, height, width, channels), e.g. x.reshape(-1, 28, 28, 1)"
