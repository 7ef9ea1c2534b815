"""Training objectives, in nats per example, from a model's per-sample terms.

For each example x and codes ``z_s ~ q(z|x)``, s = 1..S, a model gives (``VAE.terms``)::

    log p(x|z_s), log p(z_s), log q(z_s|x)        shape (S, batch)
    log_weights_s = log p(x|z_s) + log p(z_s) - log q(z_s|x)
    kl(x) = KL(q(z|x) || p(z))   analytic where TFP registers it, else
            (1/S) sum_s [log q(z_s|x) - log p(z_s)]    (Monte Carlo, TFP's use_exact_kl idea)

An objective (a subclass of ``Objective``, whose docstring is the contract) maps them to
the per-example ``loss`` the optimizer minimises, the metrics ``neg_elbo``,
``reconstruction`` and ``kl`` (the true, beta = 1 quantities), and any metrics of its own
(``Objective.metrics``): ``BetaTC``'s total correlation, ``IWAE``'s effective sample size,
``MMD``'s maximum mean discrepancy, ``AnnealedCapacity``'s gap to its capacity.

An autoencoder whose codes are a point mass on a continuous space (``posteriors.PointMass``)
has no ELBO: q(z|x) has no density there, so neither the KL nor an importance-sampled log
p(x) exists. Its objectives (``Reconstruction``, ``RAE``, ``WAE``) say so with ``has_elbo =
False`` and return ``loss``, ``reconstruction`` (-log p(x|z) at the code, nats) and their
metrics, no ``neg_elbo`` nor ``kl``.
"""

import dataclasses
import inspect

import tensorflow as tf
import tensorflow_probability as tfp

from zoo import compat
from zoo.errors import ConfigError
from zoo.models import replicas, similarity

tfd = tfp.distributions


def kl_divergence(posterior, prior, log_posterior, log_prior):
    """``KL(q || p)`` per example: analytic if TFP registers one for the pair, else the
    Monte Carlo mean over the samples of ``log q(z_s|x) - log p(z_s)`` (both given)."""
    try:
        return tfd.kl_divergence(posterior, prior)
    except NotImplementedError:
        return tf.reduce_mean(log_posterior - log_prior, axis=0)


@dataclasses.dataclass(frozen=True)
class Terms:
    """Per-sample terms of a batch: ``(samples, batch)`` tensors, and the KL ``(batch,)``;
    with the posterior q(z|x) and the codes ``(samples, batch, latent)`` they came from
    (of the top layer in a hierarchical model), and ``decoded``, p(x|z) of those codes
    (rows sample-major: samples * batch; None where a model does not give it)."""

    log_likelihood: tf.Tensor
    log_prior: tf.Tensor
    log_posterior: tf.Tensor
    kl: tf.Tensor
    posterior: object = None
    codes: tf.Tensor = None
    decoded: object = None

    @property
    def log_weights(self):
        """``log p(x|z_s) + log p(z_s) - log q(z_s|x)``: the importance weights of p(x)."""
        return self.log_likelihood + self.log_prior - self.log_posterior

    @property
    def reconstruction(self):
        """``-(1/S) sum_s log p(x|z_s)``: the distortion, nats per example."""
        return -tf.reduce_mean(self.log_likelihood, axis=0)


# What every objective returns, per example; an objective's own ``metrics`` come after.
VALUES = ("loss", "neg_elbo", "reconstruction", "kl")
# What an objective without a bound returns (``Objective.has_elbo`` False: an autoencoder's)
UNBOUNDED_VALUES = ("loss", "reconstruction")
DIRECTIONS = ("min", "max")
# Every metric an objective class declares -> whether it is better low or high ("min",
# "max"): what a tuner minimises or maximises when asked for it (``zoo.tuners``).
METRIC_DIRECTIONS = {name: "min" for name in VALUES}


class Objective:
    """The contract of a training objective; subclass it (the zoo's own do).

    ``objective(model, inputs, seed, warmup=1.0, training=False)`` returns a dict of
    per-example tensors of shape (batch,), in nats:

    - ``loss``: what the optimizer minimises (averaged over the global batch by the
      model's ``train_step``), beta and the KL warm-up factor ``warmup`` (0 to 1)
      included;
    - ``neg_elbo``, ``reconstruction``, ``kl``: the true (beta = 1) quantities, as
      ``elbo_values(terms)`` gives them;
    - one entry per name in ``metrics``, and nothing else.

    An objective with ``has_elbo = False`` (an autoencoder's: its codes a point mass on a
    continuous space, without a density, so without a KL or an ELBO) returns ``loss``,
    ``reconstruction`` and its metrics alone (``UNBOUNDED_VALUES``); the model then reports
    no ELBO and no log p(x), and watches ``val_loss``.

    ``inputs`` are the model's (images; ``(images, labels)`` for a conditional model),
    ``seed`` a shape-[2] int64 tensor for stateless draws (the model's noise for this
    step), ``training`` whether this is a training step. The default ``__call__`` draws
    ``samples`` codes per example (``model.terms``) and returns ``values(terms, warmup)``:
    most objectives write ``values`` alone, one that needs more (a second pass, draws of
    the prior) writes ``__call__``.

    Class attributes: ``samples``, codes per example (S); ``gathers_rows``, True if the
    values need every replica's rows of the global batch (``replicas.gather_rows``; the
    model then runs one step per execution under several replicas); ``metrics``, the
    extra per-example values it returns, each ``"min"`` or ``"max"`` (better low or high):
    ``fit``, ``evaluate`` and the tuners track them beside the four above
    (``val_total_correlation``...). ``get_config()`` returns the constructor's keyword
    arguments (a dataclass's fields by default).

    What an objective may use of ``model`` (a ``zoo.models.vae.VAE``): ``model.terms(inputs,
    samples, seed, training)`` (the per-sample log-densities, ``Terms``), ``model.posterior(
    inputs, training)`` (q(z|x), a TFP distribution), ``model.decode(codes, inputs,
    training)`` (p(x|z)), ``model.prior`` (p(z), a TFP distribution; a learned prior's
    variables train with the model), ``model.images_of(inputs)``, and a part it trains
    itself, such as FactorVAE's ``model.discriminator`` (a model that owns it adds its
    optimizer in ``own_optimizers``). Every draw is stateless, from ``seed`` or a seed
    derived from it, ``tf.random.experimental.stateless_fold_in(seed, k)`` with a constant
    ``k`` other than the ones the model uses (``MMD`` draws the prior with ``k = -1``,
    ``FactorVAE`` permutes with ``-2``): a resumed run then draws what a run never stopped
    drew. ``warmup`` multiplies the terms the KL warm-up ramps (the KL, or its parts), not
    the reconstruction. A value computed from the whole global batch (an MMD, a
    permutation across examples) gathers every replica's rows with
    ``replicas.gather_rows(tensor)`` and returns this replica's rows of the result, at
    ``replicas.row_span(rows)`` (its first row, the global batch's rows), with
    ``gathers_rows = True``; that keeps replicas equal to one device. A metric name
    means one thing in every objective: declaring it ``"min"`` in one and ``"max"`` in
    another is refused at class creation. ``get_config()`` is how ``model.save`` and
    ``zoo.load`` rebuild the objective: a dataclass (as the zoo's are) needs nothing more;
    another class returns the keyword arguments of its constructor.

    A ``VAE`` refuses a malformed objective when it is built, in one line; one not from
    this module is also run once on two blank images then, so that a missing or extra
    value is named before any training starts.
    """

    samples = 1
    gathers_rows = False
    metrics = {}
    has_elbo = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        declared = cls.metrics if isinstance(cls.metrics, dict) else {}  # else: check() says
        for name, direction in declared.items():
            if direction in DIRECTIONS and METRIC_DIRECTIONS.setdefault(name, direction) != (
                    direction):
                raise TypeError(f"{cls.__name__}: metric '{name}' is '{direction}' here but "
                                f"'{METRIC_DIRECTIONS[name]}' in another objective")

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        """The per-example values on the model's ``inputs`` (images; with labels for a
        conditional model), ``samples`` codes per example drawn from ``seed``."""
        return self.values(model.terms(inputs, self.samples, seed, training), warmup)

    def values(self, terms, warmup=1.0):
        """The per-example values from ``terms`` (an ``objectives.Terms``)."""
        raise NotImplementedError(f"{type(self).__name__} defines neither values(terms, "
                                  "warmup) nor __call__")

    def get_config(self):
        return dataclasses.asdict(self) if dataclasses.is_dataclass(self) else {}


def elbo_values(terms):
    """``neg_elbo``, ``reconstruction`` and ``kl`` per example from ``terms``: the metrics
    every objective reports, whatever it trains on."""
    reconstruction = terms.reconstruction
    return {"neg_elbo": reconstruction + terms.kl, "reconstruction": reconstruction,
            "kl": terms.kl}


def names_of(objective):
    """The names of the values ``objective`` returns: ``VALUES`` (``UNBOUNDED_VALUES``
    without a bound), then its metrics."""
    return ((VALUES if bounds(objective) else UNBOUNDED_VALUES)
            + tuple(getattr(objective, "metrics", {})))


def bounds(objective):
    """Whether ``objective``'s values include the ELBO's (``Objective.has_elbo``)."""
    return getattr(objective, "has_elbo", True)


def check(objective):
    """Raises ConfigError, one line, if ``objective`` does not keep ``Objective``'s
    contract in what can be seen without running it."""
    name = type(objective).__name__
    if not callable(objective):
        raise ConfigError(f"objective {name} is not callable: subclass "
                          "zoo.models.objectives.Objective (its __call__ returns "
                          "values(terms, warmup)) or define __call__(model, inputs, seed, "
                          "warmup, training)")
    try:
        inspect.signature(objective).bind("model", "inputs", "seed", 1.0, False)
    except (TypeError, ValueError):
        raise ConfigError(f"objective {name}'s __call__ must take (model, inputs, seed, "
                          "warmup=1.0, training=False)") from None
    samples = getattr(objective, "samples", None)
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise ConfigError(f"objective {name}: samples (codes per example) must be an int "
                          f">= 1, got {samples!r}")
    for flag in ("gathers_rows", "has_elbo"):
        if not isinstance(getattr(objective, flag, flag == "has_elbo"), bool):
            raise ConfigError(f"objective {name}: {flag} must be True or False")
    metrics = getattr(objective, "metrics", {})
    if not isinstance(metrics, dict):
        raise ConfigError(f"objective {name}: metrics must be a dict of metric name -> "
                          f"'min' or 'max', got {metrics!r}")
    for metric, direction in metrics.items():
        if not isinstance(metric, str) or not metric.isidentifier() or metric in VALUES:
            raise ConfigError(f"objective {name}: metric {metric!r} must be a Python name "
                              f"other than {', '.join(VALUES)}")
        if direction not in DIRECTIONS:
            raise ConfigError(f"objective {name}: metric '{metric}' must say 'min' or 'max' "
                              f"(better low or high), got {direction!r}")
    if not isinstance(getattr(objective, "get_config", dict)(), dict):
        raise ConfigError(f"objective {name}: get_config() must return a dict")


def check_values(objective, values, rows=None):
    """Raises ConfigError, one line, unless ``values`` (what ``objective`` returned) has
    exactly its names (``names_of``), each of shape (rows,) when ``rows`` is given."""
    name = type(objective).__name__
    if not isinstance(values, dict):
        raise ConfigError(f"objective {name} returned {type(values).__name__}, not a dict "
                          f"of per-example values ({', '.join(names_of(objective))})")
    expected = names_of(objective)
    missing = [key for key in expected if key not in values]
    if missing:
        returns = (f"{', '.join(VALUES)} (elbo_values(terms) gives the last three)"
                   if bounds(objective) else f"{', '.join(UNBOUNDED_VALUES)} (has_elbo = False)")
        raise ConfigError(f"objective {name} returned no {', '.join(missing)}: an objective "
                          f"returns {returns} and each name in its metrics")
    extra = [str(key) for key in values if key not in expected]
    if extra:
        declared = ", ".join(f"{key!r}: 'min'" for key in extra)
        raise ConfigError(f"objective {name} returned {', '.join(extra)}, which it does not "
                          f"declare: give it metrics = {{{declared}}} ('max' where higher is "
                          "better) to track them")
    for key in expected:
        shape = tf.TensorShape(getattr(values[key], "shape", None))
        if shape.rank != 1 or (rows is not None and shape[0] != rows):
            raise ConfigError(f"objective {name}: '{key}' has shape {shape}, not one value "
                              f"per example ({rows if rows is not None else 'batch'},)")


@dataclasses.dataclass(frozen=True)
class ELBO(Objective):
    """The beta-weighted negative ELBO (Kingma & Welling 2014; Higgins et al. 2017)::

        loss(x) = -(1/S) sum_s log p(x|z_s) + w * beta * KL(q(z|x) || p(z))

    ``w`` is the KL warm-up factor, rising from 0 to 1 (Sønderby et al. 2016); with
    ``beta = 1`` and ``w = 1`` the loss is the negative ELBO. ``samples`` is S.
    """

    beta: float = 1.0
    samples: int = 1

    def values(self, terms, warmup=1.0):
        """``loss``, ``neg_elbo``, ``reconstruction`` and ``kl`` from the terms."""
        return {"loss": terms.reconstruction + warmup * self.beta * terms.kl,
                **elbo_values(terms)}


GRADIENTS = ("iwae", "dreg")


@dataclasses.dataclass(frozen=True)
class BetaTC(Objective):
    """The beta-TCVAE objective (Chen et al. 2018): the KL split into index-code mutual
    information, total correlation and dimension-wise KL, the TC weighted by beta::

        loss(x_i) = -log p(x_i|z_i) + w * [MI_i + beta * TC_i + DKL_i],    z_i ~ q(z|x_i)
        MI_i  = log q(z_i|x_i) - log q(z_i)
        TC_i  = log q(z_i) - sum_d log q(z_id)
        DKL_i = sum_d log q(z_id) - log p(z_i)

    with the aggregate posterior estimated by minibatch-weighted sampling over the batch
    of M examples from a dataset of N (``dataset_size``: the training set's; ``zoo.train``
    and ``zoo.tune`` pass the true N to ``beta_tcvae``)::

        log q(z_i)    ~= log sum_j q(z_i|x_j) - log(N M)
        log q(z_id)   ~= log sum_j q(z_id|x_j) - log(N M)

    MI + TC + DKL = log q(z_i|x_i) - log p(z_i), so at beta = 1 the loss is the negative
    ELBO with a Monte Carlo KL. The metric ``total_correlation`` is TC_i, in nats (its
    batch mean estimates the codes' total correlation). Under several replicas, j runs
    over the *global* batch (the posteriors' parameters are gathered from every replica),
    so N replicas compute what one device does, however a last partial batch is split.
    For posteriors with a diagonal scale; one sample per example; ``w`` is the KL warm-up
    factor.
    """

    # TensorFlow's collectives keep the shape of their first call within one execution of
    # a multi-step loop: a gather of a last partial batch then aborts ("Shape mismatch in
    # the collective instance"). The model runs one step per execution under replicas.
    gathers_rows = True
    metrics = {"total_correlation": "min"}

    beta: float = 6.0
    dataset_size: int = 50_000

    def values(self, terms, warmup=1.0):
        """``loss``, the true ``neg_elbo``, ``reconstruction`` and ``kl``, and
        ``total_correlation``."""
        posterior = compat.distribution_of(terms.posterior)
        loc, scale = posterior.mean(), posterior.stddev()
        loc, scale = replicas.gather_rows(loc), replicas.gather_rows(scale)  # whole batch
        z = terms.codes[0]                                                   # (M, d)
        pairs = tfd.Normal(loc, scale).log_prob(z[:, None, :])               # (M, M_all, d)
        log_nm = tf.math.log(tf.cast(self.dataset_size * tf.shape(loc)[0], z.dtype))
        log_aggregate = tf.reduce_logsumexp(tf.reduce_sum(pairs, -1), axis=1) - log_nm
        log_marginals = tf.reduce_sum(tf.reduce_logsumexp(pairs, axis=1) - log_nm, -1)
        mutual_information = terms.log_posterior[0] - log_aggregate
        total_correlation = log_aggregate - log_marginals
        dimension_kl = log_marginals - terms.log_prior[0]
        rate = mutual_information + self.beta * total_correlation + dimension_kl
        return {"loss": terms.reconstruction + warmup * rate, **elbo_values(terms),
                "total_correlation": total_correlation}


DIP_KINDS = ("i", "ii")


@dataclasses.dataclass(frozen=True)
class DIP(Objective):
    """DIP-VAE (Kumar, Sattigeri & Balakrishnan 2018): the ELBO and a penalty that moves the
    covariance C of the codes over a batch of M examples toward the identity::

        loss(x_i) = -log p(x_i|z_i) + w * KL_i
                    + lambda_od * sum_{k != l} C_kl^2 + lambda_d * sum_k (C_kk - 1)^2

    DIP-VAE-I (``kind="i"``): C = Cov[mu(x)], the covariance of the posterior means;
    DIP-VAE-II (``"ii"``): C = Cov[mu(x)] + mean_x Sigma(x), the covariance of z under the
    batch's aggregate posterior. Covariances divide by M (disentanglement_lib's estimate).
    The penalty is one number per batch, given to every example (their mean is the
    penalty); it is in squared code units, added to nats as the paper adds it, and not
    scaled by the KL warm-up factor ``w``. The metric ``dip_penalty`` is that number.
    disentanglement_lib's study sets ``lambda_d = 10 lambda_od`` for DIP-VAE-I and
    ``lambda_d = lambda_od`` for DIP-VAE-II. Under several replicas C is the global
    batch's (every replica's posterior rows gathered), so N replicas compute what one
    device does.
    """

    gathers_rows = True
    metrics = {"dip_penalty": "min"}

    kind: str = "i"
    lambda_od: float = 10.0
    lambda_d: float = 100.0

    def __post_init__(self):
        if self.kind not in DIP_KINDS:
            raise ConfigError(f"DIP kind must be one of {', '.join(DIP_KINDS)}, not "
                              f"{self.kind!r}")

    def values(self, terms, warmup=1.0):
        """``loss``, the true ``neg_elbo``, ``reconstruction`` and ``kl``, and
        ``dip_penalty``."""
        posterior = compat.distribution_of(terms.posterior)
        means = replicas.gather_rows(posterior.mean())                        # (M, d)
        centred = means - tf.reduce_mean(means, axis=0)
        covariance = tf.matmul(centred, centred, transpose_a=True) / tf.cast(
            tf.shape(means)[0], means.dtype)
        if self.kind == "ii":
            covariance += tf.reduce_mean(replicas.gather_rows(posterior.covariance()), 0)
        diagonal = tf.linalg.diag_part(covariance)
        off_diagonal = covariance - tf.linalg.diag(diagonal)
        penalty = (self.lambda_od * tf.reduce_sum(off_diagonal ** 2)
                   + self.lambda_d * tf.reduce_sum((diagonal - 1.0) ** 2))
        per_example = tf.fill(tf.shape(terms.kl), penalty)
        return {"loss": terms.reconstruction + warmup * terms.kl + per_example,
                **elbo_values(terms), "dip_penalty": per_example}


@dataclasses.dataclass(frozen=True)
class AnnealedCapacity(Objective):
    """The annealed-capacity objective (Burgess et al. 2018; disentanglement_lib's
    AnnealedVAE): the KL held near a capacity C that rises with training::

        loss(x_i) = -log p(x_i|z_i) + w * gamma * |KL - C(t)|
        C(t) = c_max * min(1, t / iteration_threshold)

    KL is the mean of KL(q(z|x) || p(z)) over the global batch, in nats, as
    disentanglement_lib takes it (every replica's rows gathered, so N replicas compute
    what one device does); the penalty is one number per batch, given to every example.
    ``t`` is ``model.step``: the training steps taken, this one included in a training
    step (the model advances it before the objective runs), so C follows a resumed run.
    ``w`` is the KL warm-up factor. The metric ``capacity_gap`` is |KL - C(t)|, nats.
    Defaults: Burgess et al.'s dSprites setting, gamma = 1000 and C rising to 25 nats over
    100,000 steps.
    """

    gathers_rows = True
    metrics = {"capacity_gap": "min"}

    gamma: float = 1000.0
    c_max: float = 25.0
    iteration_threshold: int = 100_000

    def capacity(self, step):
        """C(t) in nats after ``step`` training steps."""
        fraction = tf.cast(step, tf.float32) / float(self.iteration_threshold)
        return self.c_max * tf.minimum(1.0, fraction)

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        terms = model.terms(inputs, 1, seed, training)
        batch_kl = tf.reduce_mean(replicas.gather_rows(terms.kl))
        gap = tf.fill(tf.shape(terms.kl), tf.abs(batch_kl - self.capacity(model.step)))
        return {"loss": terms.reconstruction + warmup * self.gamma * gap,
                **elbo_values(terms), "capacity_gap": gap}


@dataclasses.dataclass(frozen=True)
class FactorTC(Objective):
    """FactorVAE (Kim & Mnih 2018): the ELBO and gamma times the codes' total correlation,
    estimated by a discriminator (the density-ratio trick)::

        loss(x_i) = -log p(x_i|z_i) + w * KL(q(z|x_i) || p(z)) + gamma * TC_i,  z_i ~ q(z|x_i)
        TC_i = log D(z_i) - log(1 - D(z_i)) = l_0(z_i) - l_1(z_i)

    ``model.discriminator`` maps a code to two logits l = (l_0, l_1); D = softmax(l)_0 is
    its probability that the code came from q(z), the aggregate posterior, rather than from
    prod_d q(z_d), whose samples are the batch's codes with each dimension permuted across
    the (global) batch on its own (``permuted_dimensions``). At the optimal D,
    D / (1 - D) = q(z) / prod_d q(z_d), so the batch mean of TC_i estimates the total
    correlation KL(q(z) || prod_d q(z_d)) in nats: the metric ``total_correlation``.

    The discriminator's own loss, the metric ``discriminator_loss`` (nats per example)::

        L_D(x_i) = -1/2 [log D(z_i) + log(1 - D(z~_i))]

    with z~ the permuted codes: its cross-entropy on a real and a permuted code. One forward
    pass gives both losses; ``FactorVAE.train_step`` minimises ``loss`` over the encoder
    and decoder with the model's optimizer and L_D over the discriminator with the
    discriminator's own (disentanglement_lib's FactorVAE does the same, from one batch).
    ``w``, the KL warm-up factor, scales the KL only. disentanglement_lib clips D's
    probabilities to [1e-6, 1 - 1e-6] before the log; here the log-softmax of the logits
    is exact.
    """

    gathers_rows = True  # the permutation runs over the global batch
    metrics = {"total_correlation": "min", "discriminator_loss": "min"}

    gamma: float = 30.0

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        terms = model.terms(inputs, 1, seed, training)
        codes = terms.codes[0]                                              # (m, d) here
        first, _ = replicas.row_span(tf.shape(codes)[0])
        permuted = permuted_dimensions(replicas.gather_rows(tf.stop_gradient(codes)),
                                       tf.random.experimental.stateless_fold_in(seed, -2))
        own_permuted = permuted[first:first + tf.shape(codes)[0]]          # this replica's
        log_d = tf.nn.log_softmax(model.discriminator(codes, training=training))
        log_d_permuted = tf.nn.log_softmax(model.discriminator(own_permuted,
                                                               training=training))
        total_correlation = log_d[:, 0] - log_d[:, 1]
        discriminator_loss = -0.5 * (log_d[:, 0] + log_d_permuted[:, 1])
        return {"loss": terms.reconstruction + warmup * terms.kl
                + self.gamma * total_correlation, **elbo_values(terms),
                "total_correlation": total_correlation,
                "discriminator_loss": discriminator_loss}


def permuted_dimensions(codes, seed):
    """``codes`` (M, d) with each column shuffled across the rows on its own (a stateless
    permutation per column from ``seed``): draws of prod_d q(z_d), the product of the codes'
    marginals, as Kim & Mnih's Algorithm 1 makes them."""
    order = tf.argsort(tf.random.stateless_uniform(tf.shape(codes), seed), axis=0)
    return tf.transpose(tf.gather(tf.transpose(codes), tf.transpose(order), batch_dims=1))


@dataclasses.dataclass(frozen=True)
class IWAE(Objective):
    """The importance-weighted bound with ``samples`` = k codes (Burda et al. 2016)::

        loss(x) = -[log sum_k exp(log_weights_k) - log k]

    a tighter bound on log p(x) than the ELBO, equal to it in expectation at k = 1. No KL
    warm-up (``warmup`` is ignored). The metrics are the ELBO's from the same samples, and
    ``effective_sample_size``: ``1 / sum_k v_k^2`` for the normalised weights ``v_k =
    softmax(log_weights)_k``, between 1 (one code carries the bound) and k (all alike).

    ``gradient = "dreg"``: the doubly reparameterised estimator (Tucker et al. 2018). The
    decoder's (and prior's) gradient stays ``sum_k v_k grad log_weights_k``, and the
    encoder's becomes ``sum_k v_k^2 (d log_weights_k / d z_k)(d z_k / d phi)`` with log q's
    parameters held fixed: the score-function term, whose variance grows with k, is gone.
    Computed as the gradient of a surrogate (a second pass with ``code_gradient_weights =
    v``); the loss's value is the bound's.
    """

    metrics = {"effective_sample_size": "max"}

    samples: int = 5
    gradient: str = "iwae"

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        terms = model.terms(inputs, self.samples, seed, training)
        values = self.values(terms)
        if self.gradient == "dreg":
            weights = tf.stop_gradient(tf.nn.softmax(terms.log_weights, axis=0))
            held = model.terms(inputs, self.samples, seed, training, code_gradient_weights=weights)
            surrogate = -tf.reduce_sum(weights * held.log_weights, axis=0)
            values["loss"] = (tf.stop_gradient(values["loss"])
                              + surrogate - tf.stop_gradient(surrogate))
        return values

    def values(self, terms, warmup=1.0):
        """``loss`` (the negative bound), ``neg_elbo``, ``reconstruction``, ``kl`` and
        ``effective_sample_size``."""
        del warmup
        log_weights = terms.log_weights
        bound = (tf.reduce_logsumexp(log_weights, axis=0)
                 - tf.math.log(tf.cast(self.samples, log_weights.dtype)))
        normalised = tf.nn.softmax(log_weights, axis=0)
        return {"loss": -bound, **elbo_values(terms),
                "effective_sample_size": 1.0 / tf.reduce_sum(tf.square(normalised), axis=0)}


@dataclasses.dataclass(frozen=True)
class MIWAE(Objective):
    """The multiply importance-weighted bound (Rainforth et al. 2018): the mean of ``m``
    independent IWAE bounds of ``k`` codes each, m·k codes per example::

        loss(x) = -(1/m) sum_j [log sum_i exp(log_weights_{j,i}) - log k]

    in nats per example: k = 1 is the ELBO averaged over m codes, m = 1 the IWAE bound.
    With the budget m·k fixed, a larger m gives the encoder a gradient of higher
    signal-to-noise ratio and the decoder a looser bound. No KL warm-up."""

    k: int = 8
    m: int = 8

    @property
    def samples(self):
        return self.k * self.m

    def values(self, terms, warmup=1.0):
        """``loss`` (the negative bound), ``neg_elbo``, ``reconstruction``, ``kl``."""
        del warmup
        return {"loss": -self.bound(terms.log_weights), **elbo_values(terms)}

    def bound(self, log_weights):
        """The MIWAE bound per example from ``log_weights`` (m·k, batch), the j-th
        estimate's codes being rows j·k to (j + 1)·k - 1."""
        grouped = tf.reshape(log_weights, [self.m, self.k, -1])
        return tf.reduce_mean(tf.reduce_logsumexp(grouped, axis=1), axis=0) - tf.math.log(
            tf.cast(self.k, log_weights.dtype))

    def group_weights(self, log_weights):
        """d bound / d log_weights: each code's normalised weight within its estimate, / m."""
        grouped = tf.nn.softmax(tf.reshape(log_weights, [self.m, self.k, -1]), axis=1)
        return tf.reshape(grouped, tf.shape(log_weights)) / tf.cast(self.m, log_weights.dtype)


@dataclasses.dataclass(frozen=True)
class PIWAE(MIWAE):
    """Partially importance-weighted training (Rainforth et al. 2018): of the same m·k codes,
    the decoder and prior learn from the IWAE bound of all m·k, the encoder from the MIWAE
    bound of m estimates of k. ``loss`` is the negative IWAE bound of m·k codes; its gradient
    is a surrogate's: the MIWAE bound plus ``sum_i stop(a_i - b_i) log_weights'_i``, where
    ``a`` and ``b`` are the two bounds' derivatives in the log weights (the normalised
    weights over all m·k, and within each estimate over m) and ``log_weights'`` the same
    codes' log weights with the encoder held fixed (``model.terms`` with zero
    ``code_gradient_weights``): the decoder's gradient is then sum_i a_i grad log_weights_i
    (the IWAE bound's), the encoder's sum_i b_i grad log_weights_i (the MIWAE bound's)."""

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        terms = model.terms(inputs, self.samples, seed, training)
        log_weights = terms.log_weights
        iwae = tf.reduce_logsumexp(log_weights, axis=0) - tf.math.log(
            tf.cast(self.samples, log_weights.dtype))
        held = model.terms(inputs, self.samples, seed, training,
                           code_gradient_weights=tf.zeros_like(log_weights))
        shift = tf.stop_gradient(tf.nn.softmax(log_weights, axis=0)
                                 - self.group_weights(log_weights))
        surrogate = -(self.bound(log_weights)
                      + tf.reduce_sum(shift * held.log_weights, axis=0))
        return {"loss": tf.stop_gradient(-iwae) + surrogate - tf.stop_gradient(surrogate),
                **elbo_values(terms)}


@dataclasses.dataclass(frozen=True)
class CIWAE(Objective):
    """The combination importance-weighted bound (Rainforth et al. 2018) of ``k`` codes::

        loss(x) = -[beta ELBO_k + (1 - beta) IWAE_k],
        ELBO_k = (1/k) sum_i log_weights_i,  IWAE_k = log sum_i exp(log_weights_i) - log k

    in nats per example: beta = 1 the ELBO, beta = 0 the IWAE bound. No KL warm-up."""

    k: int = 64
    beta: float = 0.5

    @property
    def samples(self):
        return self.k

    def values(self, terms, warmup=1.0):
        """``loss`` (the negative bound), ``neg_elbo``, ``reconstruction``, ``kl``."""
        del warmup
        log_weights = terms.log_weights
        iwae = tf.reduce_logsumexp(log_weights, axis=0) - tf.math.log(
            tf.cast(self.k, log_weights.dtype))
        elbo = tf.reduce_mean(log_weights, axis=0)
        return {"loss": -(self.beta * elbo + (1.0 - self.beta) * iwae), **elbo_values(terms)}


KERNELS = ("imq", "rbf")


@dataclasses.dataclass(frozen=True)
class KernelDiscrepancy(Objective):
    """What ``MMD`` and ``WAE`` share: the maximum mean discrepancy between the codes of
    the (global) batch, M of them, and M draws z'_j ~ p(z), estimated without bias
    (Gretton et al. 2012) and split into per-example terms whose batch mean is the
    estimate::

        MMD_i = 1/(M-1) sum_{j != i} [k(z_i, z_j) + k(z'_i, z'_j)] - (2/M) sum_j k(z_i, z'_j)

    with the inverse multiquadratic kernel ``k(a, b) = C / (C + |a - b|^2)`` (``imq``, as
    in Tolstikhin et al. 2018's WAE) or ``exp(-|a - b|^2 / C)`` (``rbf``), ``C = 2 d
    scale^2`` for d latent dimensions. The metric ``mmd`` is MMD_i (its batch mean is the
    estimate; a squared distance of kernel means, not in nats, and it can dip below 0).
    Under several replicas the codes are gathered from every replica, so the estimate is
    the global batch's; the prior is drawn with ``stateless_fold_in(seed, -1)``.
    """

    gathers_rows = True
    metrics = {"mmd": "min"}

    kernel: str = "imq"
    scale: float = 1.0

    def batch_discrepancy(self, model, codes, seed):
        """MMD_i of this replica's ``codes`` (m, d) against the whole batch's and the
        prior's draws."""
        first, rows = replicas.row_span(tf.shape(codes)[0])
        prior_codes = model.prior.sample(rows, seed=tf.random.experimental.stateless_fold_in(
            seed, -1))                                                      # (M, d), all
        return self.discrepancy(codes, replicas.gather_rows(codes), prior_codes, first)

    def discrepancy(self, codes, all_codes, prior_codes, first=0):
        """MMD_i above for the rows ``codes`` (m, d), which are rows ``first`` on of
        ``all_codes`` (M, d), the global batch's; ``prior_codes`` (M, d) are the z'."""
        size = tf.cast(tf.shape(all_codes)[0], codes.dtype)
        rows = tf.range(tf.shape(codes)[0]) + first
        own_prior = tf.gather(prior_codes, rows)
        k_codes = tf.reduce_sum(self._kernel(codes, all_codes), -1) - 1.0  # k(z_i, z_i) = 1
        k_prior = tf.reduce_sum(self._kernel(own_prior, prior_codes), -1) - 1.0
        k_cross = tf.reduce_sum(self._kernel(codes, prior_codes), -1)
        return (k_codes + k_prior) / tf.maximum(size - 1.0, 1.0) - 2.0 * k_cross / size

    def _kernel(self, a, b):
        """k(a_i, b_j), shape (rows of a, rows of b)."""
        squared = tf.reduce_sum(tf.square(a[:, None, :] - b[None, :, :]), -1)
        width = 2.0 * tf.cast(tf.shape(a)[-1], a.dtype) * self.scale ** 2
        if self.kernel == "rbf":
            return tf.exp(-squared / width)
        return width / (width + squared)


@dataclasses.dataclass(frozen=True)
class MMD(KernelDiscrepancy):
    """The InfoVAE objective (Zhao, Song & Ermon 2019) with the maximum mean discrepancy
    between the aggregate posterior q(z) and the prior p(z) (``KernelDiscrepancy``: MMD_i,
    its kernels and the metric ``mmd``)::

        loss(x_i) = -log p(x_i|z_i) + w * [(1 - alpha) KL(q(z|x_i) || p(z))
                                           + (alpha + lam - 1) MMD_i],     z_i ~ q(z|x_i)

    ``alpha = 1`` drops the KL (the MMD-VAE, the stochastic cousin of ``WAE``, whose
    codes are a point mass); ``alpha = 0, lam = 1`` is the ELBO. ``w`` is the KL warm-up
    factor; one code per example.
    """

    alpha: float = 0.0
    lam: float = 100.0

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        terms = model.terms(inputs, 1, seed, training)
        discrepancy = self.batch_discrepancy(model, terms.codes[0], seed)
        rate = (1.0 - self.alpha) * terms.kl + (self.alpha + self.lam - 1.0) * discrepancy
        return {"loss": terms.reconstruction + warmup * rate, **elbo_values(terms),
                "mmd": discrepancy}


@dataclasses.dataclass(frozen=True)
class Reconstruction(Objective):
    """A plain autoencoder's objective: the reconstruction alone::

        loss(x) = -log p(x|z),    z = f(x)

    in nats per example, -log of the decoder's likelihood at the code (a Bernoulli
    likelihood's: the binary cross-entropy summed over the pixels). No bound: the codes are
    a point mass (``has_elbo = False``)."""

    has_elbo = False

    def values(self, terms, warmup=1.0):
        """``loss`` and ``reconstruction``, the same."""
        del warmup
        return {"loss": terms.reconstruction, "reconstruction": terms.reconstruction}


PENALTIES = ("l2", "gp")


@dataclasses.dataclass(frozen=True)
class RAE(Objective):
    """The regularised autoencoder (Ghosh, Sajjadi, Vergari, Black & Schölkopf 2020)::

        loss(x) = -log p(x|z) + code_weight * |z|^2 / 2 + decoder_weight * R,    z = f(x)

    the code penalty |z|^2 / 2 (the metric ``code_penalty``) and the decoder's,
    ``penalty``: ``"l2"`` (RAE-L2), R = |theta|^2 / 2 over the decoder's trainable
    variables (the gradient decoder_weight * theta: PyTorch's Adam ``weight_decay`` on the
    decoder, as pythae trains it), or ``"gp"`` (RAE-GP), R = |d/dz sum_i E[x_i|z]|^2, the
    squared gradient of the decoder's summed output at the code (the paper's code takes it
    at z; pythae's, at the input x). The metric ``decoder_penalty`` is R. Penalties are in
    squared code or weight units, added to nats as the paper adds them to its
    reconstruction; defaults as pythae's (1e-4, 1e-7). No bound (``has_elbo = False``).
    """

    has_elbo = False
    metrics = {"code_penalty": "min", "decoder_penalty": "min"}

    penalty: str = "l2"
    code_weight: float = 1e-4
    decoder_weight: float = 1e-7

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        del warmup
        if self.penalty == "gp":
            # R at the codes of the decoder pass the reconstruction takes (one decode), on a
            # tape inside the step's, which differentiates it again (the codes are on it as
            # the encoder's variables are: a Keras layer frozen keeps them watchable)
            with tf.GradientTape() as tape:
                terms = model.terms(inputs, 1, seed, training)
                output = tf.reduce_sum(decoded_means(self, model, terms,
                                                     model.images_of(inputs)))
            codes = terms.codes[0]
            decoder_penalty = tf.reduce_sum(tf.square(tape.gradient(output, terms.codes)[0]),
                                            -1)
        else:
            terms = model.terms(inputs, 1, seed, training)
            codes = terms.codes[0]
            weights = tf.add_n([tf.reduce_sum(tf.square(tf.cast(v, codes.dtype)))
                                for v in model.decoder.trainable_variables])
            decoder_penalty = tf.fill(tf.shape(codes)[:1], 0.5 * weights)
        code_penalty = 0.5 * tf.reduce_sum(tf.square(codes), -1)
        return {"loss": terms.reconstruction + self.code_weight * code_penalty
                + self.decoder_weight * decoder_penalty,
                "reconstruction": terms.reconstruction, "code_penalty": code_penalty,
                "decoder_penalty": decoder_penalty}


@dataclasses.dataclass(frozen=True)
class WAE(KernelDiscrepancy):
    """The Wasserstein autoencoder with the MMD penalty (Tolstikhin, Bousquet, Gelly &
    Schölkopf 2018), on deterministic codes::

        loss(x_i) = -log p(x_i|z_i) + lam * MMD_i,    z_i = f(x_i)

    MMD_i the batch's discrepancy between the codes and the prior (``KernelDiscrepancy``;
    the metric ``mmd``). ``MMD`` with ``alpha = 1`` (the MMD-VAE) is its stochastic
    cousin: the same loss with codes drawn from a Gaussian q(z|x). The paper's MNIST
    setting: lam = 10, the IMQ kernel. No bound (``has_elbo = False``).
    """

    has_elbo = False

    lam: float = 10.0

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        del warmup
        terms = model.terms(inputs, 1, seed, training)
        discrepancy = self.batch_discrepancy(model, terms.codes[0], seed)
        return {"loss": terms.reconstruction + self.lam * discrepancy,
                "reconstruction": terms.reconstruction, "mmd": discrepancy}


@dataclasses.dataclass(frozen=True)
class Adversarial(Objective):
    """The adversarial autoencoder's objective (Makhzani, Shlens, Jaitly, Goodfellow & Frey
    2016) on deterministic codes z_i = f(x_i), with a discriminator D of codes
    (``model.discriminator``: two logits, a draw of the prior's and an encoder's code)::

        loss(x_i) = -log p(x_i|z_i) + weight * (-log D_prior(z_i))
        L_D(x_i)  = -1/2 [log D_prior(z'_i) + log D_code(z_i)],    z'_i ~ p(z)

    the encoder learning to pass its codes off as the prior's (the non-saturating
    generator loss, the metric ``adversarial_loss``, nats), the discriminator to tell them
    apart (its cross-entropy, the metric ``discriminator_loss``, nats per example), both
    from one forward pass: ``adversarial.Discriminated`` minimises the loss over the
    encoder and decoder with the model's optimizer and L_D over the discriminator with
    its own (Makhzani et al.'s reconstruction and regularisation phases in one step, as
    pythae does). z'_i is the i-th of M draws of the prior for the global batch
    (``stateless_fold_in(seed, -1)``), so replicas draw what one device does. No bound
    (``has_elbo = False``).
    """

    has_elbo = False
    metrics = {"adversarial_loss": "min", "discriminator_loss": "min"}

    weight: float = 1.0

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        del warmup
        terms = model.terms(inputs, 1, seed, training)
        codes = terms.codes[0]                                              # (m, d) here
        first, rows = replicas.row_span(tf.shape(codes)[0])
        prior_codes = model.prior.sample(rows, seed=tf.random.experimental.stateless_fold_in(
            seed, -1))[first:first + tf.shape(codes)[0]]                   # this replica's
        log_d = tf.nn.log_softmax(model.discriminator(codes, training=training))
        log_d_prior = tf.nn.log_softmax(model.discriminator(prior_codes, training=training))
        adversarial = -log_d[:, 0]
        return {"loss": terms.reconstruction + self.weight * adversarial,
                "reconstruction": terms.reconstruction, "adversarial_loss": adversarial,
                "discriminator_loss": -0.5 * (log_d_prior[:, 0] + log_d[:, 1])}


def decoded_means(objective, model, terms, images):
    """E[x|z] of ``terms``' codes shaped as ``images``; a one-line ConfigError for a model
    whose terms do not carry the decoder's p(x|z)."""
    if terms.decoded is None:
        raise ConfigError(f"{type(objective).__name__} takes a model whose terms carry the "
                          f"decoder's p(x|z) (VAE.terms does); {type(model).__name__}'s do not")
    return tf.reshape(tf.cast(terms.decoded.mean(), images.dtype), tf.shape(images))


# MS-SSIM's weights of its five scales (Wang, Simoncelli & Bovik 2003; tf.image's)
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)


def ms_ssim_scales(height, width, filter_size):
    """How many of MS-SSIM's five scales an image of ``height`` x ``width`` has room for:
    scale j (from 0) halves the image j times (rounding up: TensorFlow pads an odd side),
    and its window of ``filter_size`` pixels must fit (its convolutions are VALID)."""
    return sum(1 for j in range(len(MS_SSIM_WEIGHTS))
               if -(-min(height, width) // 2 ** j) >= filter_size)  # halved, rounded up


@dataclasses.dataclass(frozen=True)
class MSSSIM(Objective):
    """The MS-SSIM VAE's objective (Snell, Ridgeway, Liao, Roads, Mozer & Zemel 2017): the
    reconstruction measured by multi-scale structural similarity between each image and its
    decoder mean E[x|z] (``similarity.ms_ssim``: ``tf.image.ssim_multiscale``'s, with a
    gradient where a scale's term is not positive)::

        loss(x) = D (1 - MS-SSIM(x, E[x|z])) + w * beta * KL(q(z|x) || p(z)),  z ~ q(z|x)

    D the image's pixels times channels: MS-SSIM is a mean over pixels, and D times it is
    Snell et al.'s sum over pixels, on the scale of a likelihood summed over them. Windows
    of ``filter_size`` pixels (Gaussian, sigma 1.5); the scales are MS-SSIM's first
    ``ms_ssim_scales(H, W, filter_size)`` (28x28 with windows of 3: four, of 28, 14, 7 and
    4 pixels; 64x64: all five), their weights renormalised to sum to 1. The metric
    ``ms_ssim`` is MS-SSIM per image (1: identical). The decoder's likelihood still
    defines the model: ``neg_elbo``, ``reconstruction`` and ``kl`` are its ELBO's, a true
    bound on log p(x), which this loss does not train for. ``w`` is the KL warm-up factor;
    one code per example.
    """

    metrics = {"ms_ssim": "max"}

    beta: float = 1.0
    filter_size: int = 3

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        terms = model.terms(inputs, 1, seed, training)
        images = model.images_of(inputs)
        means = decoded_means(self, model, terms, images)
        similarity = self.similarity(images, means)
        pixels = tf.cast(tf.reduce_prod(tf.shape(images)[1:]), images.dtype)
        return {"loss": pixels * (1.0 - similarity) + warmup * self.beta * terms.kl,
                **elbo_values(terms), "ms_ssim": similarity}

    def similarity(self, images, means):
        """MS-SSIM of each image and its mean (batch,), on the scales that fit."""
        return similarity.ms_ssim(images, means, self.weights(*images.shape[1:3]),
                                  self.filter_size)

    def weights(self, height, width):
        """The weights of the scales that fit ``height`` x ``width`` images, summing to 1;
        a one-line ConfigError where not one fits."""
        scales = ms_ssim_scales(height, width, self.filter_size)
        if scales == 0:
            raise ConfigError(f"MS-SSIM windows of filter_size={self.filter_size} pixels do "
                              f"not fit {height}x{width} images: use a smaller filter_size")
        kept = MS_SSIM_WEIGHTS[:scales]
        return [weight / sum(kept) for weight in kept]


@dataclasses.dataclass(frozen=True)
class VAEGAN(Objective):
    """VAE-GAN (Larsen, Sonderby, Larochelle & Winther 2016): the reconstruction measured in
    the features of a discriminator of images (``model.discriminator``: images -> features
    f and the logit d of D, the probability that an image is real), which learns to tell
    the data from reconstructions and from images the prior makes::

        R(x)     = 1/2 |f(x) - f(x~)|^2,    x~ = E[x|z], z ~ q(z|x)
        loss(x)  = R(x) + w * beta * KL(q(z|x) || p(z))                   (the encoder's)
        L_dec(x) = gamma * R(x) - log D(x~) - log D(x_p)                  (the decoder's)
        L_D(x)   = -log D(x) - log(1 - D(x~)) - log(1 - D(x_p))     (the discriminator's)

    x_p = E[x|z_p] for the i-th of M draws z_p ~ p(z) for the global batch
    (``stateless_fold_in(seed, -1)``, so replicas draw what one device does). R is
    -log N(f(x); f(x~), I) but for its constant: nats of the features under Larsen et
    al.'s unit Gaussian; the decoder's adversarial terms are the non-saturating ones; ``w``
    is the KL warm-up factor. ``adversarial.VAEGAN`` takes each loss's gradient over its
    own part's variables from one forward pass (three optimizers, as Larsen et al. and
    pythae) and holds the decoder and discriminator in equilibrium (``balance``) on the
    metrics ``discriminator_real`` = -log D(x) and ``discriminator_fake`` =
    -log(1 - D(x_p)) (nats). The decoder's likelihood still defines the model:
    ``neg_elbo``, ``reconstruction`` and ``kl`` are its ELBO's, a true bound on log p(x)
    that this loss does not train for.
    """

    metrics = {"feature_reconstruction": "min", "decoder_loss": "min",
               "discriminator_loss": "min", "discriminator_real": "min",
               "discriminator_fake": "min"}

    beta: float = 1.0
    gamma: float = 1.0
    equilibrium: float = 0.68
    margin: float = 0.4

    def __call__(self, model, inputs, seed, warmup=1.0, training=False):
        if not hasattr(model, "discriminator"):
            raise ConfigError(f"VAEGAN takes a model with a discriminator of images "
                              f"(adversarial.VAEGAN, as zoo.get('vae_gan') builds); a "
                              f"{type(model).__name__} has none")
        terms = model.terms(inputs, 1, seed, training)
        images = model.images_of(inputs)
        batch = tf.shape(images)[0]
        first, rows = replicas.row_span(batch)
        prior_codes = model.prior.sample(rows, seed=tf.random.experimental.stateless_fold_in(
            seed, -1))[first:first + batch]                               # this replica's
        drawn = tf.reshape(tf.cast(model.decode(prior_codes, inputs, training).mean(),
                                   images.dtype), tf.shape(images))
        made = [decoded_means(self, model, terms, images), drawn]
        features, logits = model.discriminator(tf.concat([images, *made], 0),
                                               training=training)         # one pass, 3 parts
        real, rebuilt, _ = tf.split(features, 3)  # the prior's images' features: unused
        d_real, d_rebuilt, d_drawn = tf.split(logits[:, 0], 3)
        feature_reconstruction = 0.5 * tf.reduce_sum(tf.square(real - rebuilt), -1)
        real_cost, fake_cost = tf.nn.softplus(-d_real), tf.nn.softplus(d_drawn)
        return {"loss": feature_reconstruction + warmup * self.beta * terms.kl,
                **elbo_values(terms), "feature_reconstruction": feature_reconstruction,
                "decoder_loss": (self.gamma * feature_reconstruction
                                 + tf.nn.softplus(-d_rebuilt) + tf.nn.softplus(-d_drawn)),
                "discriminator_loss": real_cost + tf.nn.softplus(d_rebuilt) + fake_cost,
                "discriminator_real": real_cost, "discriminator_fake": fake_cost}

    def balance(self, real, fake):
        """``(decoder, discriminator)``, 1.0 where that part trains in this step, else 0.0,
        from the discriminator's mean cross-entropies on the batch's images (``real``) and
        on the prior's (``fake``): the discriminator rests while either is below
        ``equilibrium - margin`` (it wins), the decoder while either is above
        ``equilibrium + margin`` (it is far ahead), and where both would rest both train
        (the balance of Larsen et al.'s own code, at pythae's defaults)."""
        low, high = self.equilibrium - self.margin, self.equilibrium + self.margin
        discriminator = tf.logical_not((real < low) | (fake < low))
        decoder = tf.logical_not((real > high) | (fake > high))
        both_rest = tf.logical_not(decoder | discriminator)
        return (tf.cast(decoder | both_rest, tf.float32),
                tf.cast(discriminator | both_rest, tf.float32))


@dataclasses.dataclass(frozen=True)
class VectorQuantization(Objective):
    """The VQ-VAE objective (van den Oord et al. 2017), autoencoder and prior together::

        loss(x) = -log p(x|z_q) - w log p(k) + |sg[z_e] - z_q|^2
                  + commitment * |z_e - sg[z_q]|^2

    z_e is the encoder's output and z_q its nearest codebook vectors, k their indices
    (``posteriors.VectorQuantizer``, whose codes reach the decoder straight-through). The
    first term trains the decoder and, straight through z_q, the encoder; the second the
    prior alone (k is discrete: nothing else has a gradient through it); the third the
    codebook (its vectors move toward the encoder's outputs: a loss, not moving averages);
    the fourth keeps the encoder near its codes. Squared distances are summed over the grid
    and the code size (squared code units, added to nats as the paper adds them). q(k|x)
    is a point mass, so ``kl`` is -log p(k) and ``neg_elbo`` -log p(x|z_q) - log p(k): the
    bound the model reports. The metric ``quantization_error`` is |z_e - z_q|^2 per
    example. ``w`` is the KL warm-up factor. ``vq.VQVAE`` built with ``prior_epochs`` > 0
    trains the prior after the autoencoder: this loss over the autoencoder's variables,
    then -log p(k) over the prior's."""

    metrics = {"quantization_error": "min"}

    commitment: float = 0.25

    def values(self, terms, warmup=1.0):
        """``loss``, ``neg_elbo``, ``reconstruction``, ``kl`` and ``quantization_error``."""
        posterior = compat.distribution_of(terms.posterior)
        if not hasattr(posterior, "quantized"):
            raise ConfigError(f"VectorQuantization takes a VQ-VAE's posterior, not a "
                              f"{type(posterior).__name__}: end the encoder in a "
                              "posteriors.VectorQuantizer (as vq_vae does), or use ELBO")
        unquantized, quantized = posterior.unquantized, posterior.quantized
        codebook = tf.reduce_sum((tf.stop_gradient(unquantized) - quantized) ** 2, -1)
        commitment = tf.reduce_sum((unquantized - tf.stop_gradient(quantized)) ** 2, -1)
        return {"loss": (terms.reconstruction + warmup * terms.kl + codebook
                         + self.commitment * commitment),
                **elbo_values(terms), "quantization_error": tf.stop_gradient(codebook)}
