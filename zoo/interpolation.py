"""Paths between the codes of two images, decoded: ``zoo.interpolate(model, a, b, steps)``.

Both paths run from ``z_a`` to ``z_b`` (``model.encode``: the centres of q(z|a), q(z|b)) at
``t = 0, 1/(steps-1), ..., 1``:

- ``linear``: ``(1 - t) z_a + t z_b``;
- ``spherical`` (slerp; White 2016, for Gaussian priors, whose mass lies near a sphere):
  ``sin((1 - t) w) / sin(w) z_a + sin(t w) / sin(w) z_b``, ``w`` the angle between the
  codes; the linear path where they are parallel or opposite (``w`` within 1e-6 of 0 or
  pi).
"""

import numpy as np
import tensorflow as tf

from zoo.errors import ConfigError

PATHS = ("linear", "spherical")


def interpolate(model, a, b, steps=10, path="linear", labels=None):
    """The decoder means (steps, height, width, channels) along ``path`` (one of PATHS)
    from the code of image ``a`` to that of image ``b`` (a conditional model: decoded
    with ``labels``, one per step)."""
    codes = path_codes(model.encode(np.asarray(a, np.float32)[None],
                                    None if labels is None else np.asarray(labels[:1])),
                       model.encode(np.asarray(b, np.float32)[None],
                                    None if labels is None else np.asarray(labels[-1:])),
                       steps, path)
    return model.decode(codes, labels).mean()


def path_codes(start, end, steps=10, path="linear"):
    """``steps`` codes (steps, latent_dim) from ``start`` to ``end`` (each (latent_dim,) or
    (1, latent_dim)) along ``path``."""
    if path not in PATHS:
        raise ConfigError(f"unknown path '{path}'; use one of {', '.join(PATHS)}")
    if not isinstance(steps, int) or steps < 2:
        raise ConfigError(f"steps must be an int >= 2 (the two ends), got {steps!r}")
    start = tf.reshape(tf.cast(start, tf.float64), [1, -1])
    end = tf.reshape(tf.cast(end, tf.float64), [1, -1])
    t = tf.reshape(tf.linspace(tf.constant(0.0, tf.float64), 1.0, steps), [-1, 1])
    if path == "spherical":
        cosine = tf.reduce_sum(start * end) / (tf.norm(start) * tf.norm(end))
        angle = tf.acos(tf.clip_by_value(cosine, -1.0, 1.0))
        if 1e-6 < float(angle) < np.pi - 1e-6:  # (opposite codes: no one great circle)
            return tf.cast((tf.sin((1 - t) * angle) * start + tf.sin(t * angle) * end)
                           / tf.sin(angle), tf.float32)
    return tf.cast((1 - t) * start + t * end, tf.float32)
