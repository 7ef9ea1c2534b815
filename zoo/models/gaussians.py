"""Gaussians whose densities trace cheaply: TFP's ``MultivariateNormalDiag`` and
``MultivariateNormalTriL`` with their log-density, moments, entropy and KL in closed form.

TFP builds both as a standard normal pushed through a shift and a ``LinearOperator``
scale: ``log_prob`` walks that bijector chain with its caches and tangent spaces, and the
KL between two is the general one for linear operators (a solve against the dense
scale). Every ``tf.function`` that meets one (a training step, a validation step, an
evaluation) spends that Python again while it is traced. The subclasses keep TFP's
constructors, classes (``isinstance`` checks; the KL against other linear-operator
Gaussians), parameters, samples and ``scale``, and compute, for D dimensions (nats):

``DiagonalNormal``, ``N(mu, diag(sigma^2))``::

    log p(z)   = -1/2 sum_d ((z_d - mu_d) / sigma_d)^2 - sum_d log sigma_d - D/2 log(2 pi)
    H          = sum_d log sigma_d + D/2 (1 + log(2 pi))
    KL(q || p) = sum_d [1/2 ((mu_q - mu_p) / sigma_p)^2 + 1/2 expm1(2 r_d) - r_d],
                 r_d = log sigma_q,d - log sigma_p,d          (TFP's Normal KL, summed)

``TriangularNormal``, ``N(mu, L L^T)`` with L lower triangular::

    log p(z)   = -1/2 |L^-1 (z - mu)|^2 - sum_d log |L_dd| - D/2 log(2 pi)
    H          = sum_d log |L_dd| + D/2 (1 + log(2 pi))
    KL(q || p) = sum_d log sigma_p,d - sum_d log |L_dd| - D/2
                 + 1/2 sum_ij (L_ij / sigma_p,i)^2 + 1/2 sum_d ((mu_p,d - mu_d) / sigma_p,d)^2
                 against a ``DiagonalNormal`` p (the standard normal prior)

with ``mean`` the location broadcast to the batch. Both agree with TFP's to float rounding
(tests/test_models.py); ``experimental_use_kahan_sum`` is not honoured (plain sums). A flow
over one (a ``TransformedDistribution``) still asks TFP's path for its base's density
(``experimental_local_measure``): answering it with the closed form and R^D's tangent space
made iaf_vae's first fit slower, not faster (2026-12-08), so it is left to TFP.
"""

import math

import tensorflow as tf
import tensorflow_probability as tfp

tfd = tfp.distributions

HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


class DiagonalNormal(tfd.MultivariateNormalDiag):
    """``N(loc, diag(scale_diag^2))``: ``tfd.MultivariateNormalDiag(loc, scale_diag)`` (both
    given) with its log-density, moments, entropy and KL computed per coordinate (module
    docstring)."""

    def _log_prob(self, z):
        scale = self.scale.diag
        standardised = (z - self.loc) / scale
        return -(0.5 * tf.reduce_sum(standardised ** 2, axis=-1)
                 + tf.reduce_sum(tf.math.log(tf.abs(scale)), axis=-1)
                 + HALF_LOG_TWO_PI * tf.cast(tf.shape(scale)[-1], scale.dtype))

    def _mean(self):
        return self.loc + tf.zeros_like(self.scale.diag)

    def _stddev(self):
        return tf.abs(self.scale.diag) + tf.zeros_like(self.loc)

    def _variance(self):
        return self._stddev() ** 2

    def _entropy(self):
        scale = tf.abs(self.scale.diag) + tf.zeros_like(self.loc)
        return (tf.reduce_sum(tf.math.log(scale), axis=-1)
                + (0.5 + HALF_LOG_TWO_PI) * tf.cast(tf.shape(scale)[-1], scale.dtype))


@tfd.RegisterKL(DiagonalNormal, DiagonalNormal)
def _kl_diagonal_normals(q, p, name=None):
    with tf.name_scope(name or "kl_diagonal_normals"):
        scale_p = tf.abs(p.scale.diag)
        log_ratio = tf.math.log(tf.abs(q.scale.diag)) - tf.math.log(scale_p)
        return tf.reduce_sum(0.5 * tf.math.squared_difference(q.loc / scale_p, p.loc / scale_p)
                             + 0.5 * tf.math.expm1(2.0 * log_ratio) - log_ratio, axis=-1)


class TriangularNormal(tfd.MultivariateNormalTriL):
    """``N(loc, scale_tril scale_tril^T)``: ``tfd.MultivariateNormalTriL(loc, scale_tril)``
    (both given) with its log-density, mean, entropy and KL against a ``DiagonalNormal``
    computed in closed form (module docstring)."""

    def _log_diagonal(self):
        return tf.math.log(tf.abs(tf.linalg.diag_part(self.scale.tril)))

    def _log_prob(self, z):
        tril = self.scale.tril  # (the solve broadcasts the batch dimensions)
        standardised = tf.linalg.triangular_solve(tril, (z - self.loc)[..., tf.newaxis])
        return -(0.5 * tf.reduce_sum(standardised[..., 0] ** 2, axis=-1)
                 + tf.reduce_sum(self._log_diagonal(), axis=-1)
                 + HALF_LOG_TWO_PI * tf.cast(tf.shape(tril)[-1], tril.dtype))

    def _mean(self):
        return self.loc + tf.zeros_like(tf.linalg.diag_part(self.scale.tril))

    def _entropy(self):
        log_diagonal = self._log_diagonal() + tf.zeros_like(self.loc)
        return (tf.reduce_sum(log_diagonal, axis=-1)
                + (0.5 + HALF_LOG_TWO_PI) * tf.cast(tf.shape(log_diagonal)[-1],
                                                    log_diagonal.dtype))


@tfd.RegisterKL(TriangularNormal, DiagonalNormal)
def _kl_triangular_diagonal(q, p, name=None):
    with tf.name_scope(name or "kl_triangular_diagonal"):
        scale_p = tf.abs(p.scale.diag)
        tril = tf.linalg.band_part(q.scale.tril, -1, 0)  # (as the solves read it)
        whitened = tril / scale_p[..., :, tf.newaxis]  # row i over sigma_p,i
        return (tf.reduce_sum(tf.math.log(scale_p) - q._log_diagonal(), axis=-1)
                + 0.5 * tf.reduce_sum(whitened ** 2, axis=[-2, -1])
                + 0.5 * tf.reduce_sum(((p.loc - q.loc) / scale_p) ** 2, axis=-1)
                - 0.5 * tf.cast(tf.shape(scale_p)[-1], scale_p.dtype))
