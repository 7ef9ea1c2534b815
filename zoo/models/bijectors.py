"""Planar and radial flows (Rezende & Mohamed 2015) as TFP bijectors on vectors.

Each is a map of R^d onto itself with a log-determinant in closed form, invertible by the
constraint on its parameters; its inverse is numerical for the planar flow (a monotone
scalar equation, bisected) and closed-form for the radial one. Parameters may carry batch
dimensions (one flow per example, from an encoder), broadcast against the codes'.

A posterior's log-density of codes the flow made is read from TFP's bijector cache (the
inverse of a forward result is a lookup), so the inverse runs only for codes from elsewhere.
"""

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
from tensorflow_probability.python.internal import parameter_properties

properties = parameter_properties

# Bisection steps of the planar inverse: the bracket (2 |w.u_hat| wide) halved 60 times,
# below float32's resolution for any bracket a float32 can hold.
BISECTIONS = 60

# softplus(x) = 1 at x = log(e - 1): u = U_IDENTITY w / |w|^2 makes u_hat = 0.
U_IDENTITY = float(np.log(np.e - 1))


class _VectorStep(tfp.bijectors.Bijector):
    """A flow step on vectors (``forward_min_event_ndims=1``) whose tensor parameters,
    named in ``names`` (the first sets the dtype), are kept as ``self._<name>``."""

    def __init__(self, parameters, names, validate_args, name):
        with tf.name_scope(name) as scope:
            dtype = tf.convert_to_tensor(parameters[names[0]]).dtype
            for key in names:
                value = tf.convert_to_tensor(parameters[key], dtype=dtype, name=key)
                setattr(self, f"_{key}", value)
            super().__init__(forward_min_event_ndims=1, validate_args=validate_args,
                             parameters={k: v for k, v in parameters.items()
                                         if k not in ("self", "__class__")}, name=scope)


class Planar(_VectorStep):
    """``f(z) = z + u_hat tanh(w.z + b)``, in nats::

        log |det df/dz| = log(1 + (1 - tanh^2(w.z + b)) w.u_hat)
        u_hat = u + (m(w.u) - w.u) w / |w|^2,   m(x) = -1 + softplus(x)

    so ``w.u_hat = m(w.u) > -1``: f is invertible (Rezende & Mohamed 2015, appendix A).
    ``u``, ``w`` (..., d) and ``b`` (...); ``u = log(e - 1) w / |w|^2`` is the identity.
    """

    def __init__(self, u, w, b, validate_args=False, name="planar"):
        super().__init__(dict(locals()), ("u", "w", "b"), validate_args, name)

    @classmethod
    def _parameter_properties(cls, dtype):
        return {"u": properties.ParameterProperties(event_ndims=1),
                "w": properties.ParameterProperties(event_ndims=1),
                "b": properties.ParameterProperties()}

    def _slope(self):
        """``w.u_hat = m(w.u)`` (...), > -1."""
        return tf.nn.softplus(tf.reduce_sum(self._w * self._u, -1)) - 1.0

    def _u_hat(self):
        wu = tf.reduce_sum(self._w * self._u, -1, keepdims=True)
        return self._u + (tf.nn.softplus(wu) - 1.0 - wu) * self._w / tf.maximum(
            tf.reduce_sum(tf.square(self._w), -1, keepdims=True), 1e-12)  # w = 0: no NaN

    def _forward(self, z):
        return z + self._u_hat() * tf.tanh(tf.reduce_sum(self._w * z, -1) + self._b)[..., None]

    def _forward_log_det_jacobian(self, z):
        activation = tf.tanh(tf.reduce_sum(self._w * z, -1) + self._b)
        return tf.math.log1p((1.0 - tf.square(activation)) * self._slope())

    def _inverse(self, y):
        """``a = w.z`` solves ``a + m tanh(a + b) = w.y``, increasing in a, within
        ``|m|`` of ``w.y``; then ``z = y - u_hat tanh(a + b)``."""
        target, slope = tf.reduce_sum(self._w * y, -1), self._slope()
        low, high = target - tf.abs(slope), target + tf.abs(slope)
        for _ in range(BISECTIONS):
            middle = (low + high) / 2
            above = middle + slope * tf.tanh(middle + self._b) > target
            low, high = tf.where(above, low, middle), tf.where(above, middle, high)
        return y - self._u_hat() * tf.tanh((low + high) / 2 + self._b)[..., None]


class Radial(_VectorStep):
    """``f(z) = z + beta (z - z0) / (alpha + r)``, ``r = |z - z0|``, in nats::

        log |det df/dz| = (d - 1) log(1 + beta / (alpha + r))
                          + log(1 + beta alpha / (alpha + r)^2)
        alpha = softplus(a),   beta = -alpha + softplus(b)

    so ``beta > -alpha``: f is invertible (Rezende & Mohamed 2015, appendix A); ``a = b`` is
    the identity. The inverse: ``|f(z) - z0| = r (1 + beta / (alpha + r))`` is a quadratic
    in r. ``z0`` (..., d), ``a`` and ``b`` (...).
    """

    def __init__(self, z0, a, b, validate_args=False, name="radial"):
        super().__init__(dict(locals()), ("z0", "a", "b"), validate_args, name)

    @classmethod
    def _parameter_properties(cls, dtype):
        return {"z0": properties.ParameterProperties(event_ndims=1),
                "a": properties.ParameterProperties(),
                "b": properties.ParameterProperties()}

    def _alpha_beta(self):
        alpha = tf.nn.softplus(self._a)
        return alpha, tf.nn.softplus(self._b) - alpha

    def _forward(self, z):
        alpha, beta = self._alpha_beta()
        offset = z - self._z0
        r = tf.norm(offset, axis=-1)
        return z + (beta / (alpha + r))[..., None] * offset

    def _forward_log_det_jacobian(self, z):
        alpha, beta = self._alpha_beta()
        r = tf.norm(z - self._z0, axis=-1)
        d = tf.cast(tf.shape(z)[-1], z.dtype)
        return ((d - 1.0) * tf.math.log1p(beta / (alpha + r))
                + tf.math.log1p(beta * alpha / tf.square(alpha + r)))

    def _inverse(self, y):
        alpha, beta = self._alpha_beta()
        offset = y - self._z0
        radius = tf.norm(offset, axis=-1)                   # r (1 + beta / (alpha + r))
        # r^2 + (alpha + beta - radius) r - alpha radius = 0, its root >= 0, written
        # without cancellation for either sign of c
        c = alpha + beta - radius
        root = tf.sqrt(tf.square(c) + 4.0 * alpha * radius)
        r = tf.where(c > 0, 2.0 * alpha * radius / (root + c), (root - c) / 2)
        return self._z0 + offset / (1.0 + beta / (alpha + r))[..., None]
