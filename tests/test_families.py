"""The families built from the core's parts: each objective computed by hand, learned priors
that train. (An importance-sampled log p(x) above the ELBO for every builder: test_saving.py,
on the model it trains, saves and reloads.)"""

import h5py
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

import zoo
from small import small
from zoo import pretrained
from zoo.errors import ConfigError
from zoo.models import bijectors, hamiltonian, objectives, posteriors, similarity
from zoo.models.objectives import ELBO, IWAE, BetaTC
from zoo.models.vae import VAE

tfd = tfp.distributions
SEED = tf.constant([5, 6], tf.int64)


def logsumexp(values, axis):
    return tf.reduce_logsumexp(tf.constant(values, tf.float64), axis=axis).numpy()


def by_hand_log_weights(model, x, samples, seed):
    """``log p(x|z) + log p(z) - log q(z|x)`` from z = loc + scale * eps, with TFP's own
    log_prob on tiled images: (samples, batch)."""
    posterior = model.encoder(x)
    eps = tf.random.stateless_normal([samples, len(x), model.latent_dim], seed)
    z = posterior.loc + posterior.scale.matvec(eps)
    rv_x = model.decoder(tf.reshape(z, [-1, model.latent_dim]))
    log_likelihood = tf.reshape(rv_x.log_prob(np.tile(x, (samples, 1, 1, 1))), [samples, -1])
    return (log_likelihood + model.prior.log_prob(z) - posterior.log_prob(z)).numpy(), z


def test_the_iwae_loss_is_the_log_mean_exp_of_the_log_weights(test_images):
    model = zoo.get("iwae", latent_dim=4, hidden_units=(32,), k=5)
    x = test_images[:64]
    values = model.objective(model, x, SEED)
    log_weights, _ = by_hand_log_weights(model, x, 5, SEED)
    np.testing.assert_allclose(values["loss"], -(logsumexp(log_weights, 0) - np.log(5)),
                               rtol=1e-5)
    assert np.all(values["loss"] <= -np.mean(log_weights, 0) + 1e-4)  # Jensen: tighter
    normalised = np.exp(log_weights - logsumexp(log_weights, 0))           # v_k, (5, 64)
    np.testing.assert_allclose(values["effective_sample_size"],
                               1 / np.sum(normalised ** 2, 0), rtol=1e-4)
    assert np.all((values["effective_sample_size"] >= 1 - 1e-5)
                  & (values["effective_sample_size"] <= 5 + 1e-5))


def test_iwae_with_one_sample_is_the_elbo(test_images):
    model = zoo.get("mlp_vae", latent_dim=4, hidden_units=(32,))
    x = test_images[:64]
    terms = model.terms(x, 1, SEED)
    iwae_loss = IWAE(samples=1).values(terms)["loss"]
    np.testing.assert_allclose(  # exactly: the ELBO with its KL from the same sample
        iwae_loss, terms.reconstruction + terms.log_posterior[0] - terms.log_prior[0],
        rtol=1e-6)
    many = model.terms(x[:16], 2000, SEED)  # in expectation: the ELBO with the analytic KL
    assert np.mean(-many.log_weights) == pytest.approx(
        float(tf.reduce_mean(ELBO().values(many)["loss"])), abs=0.3)


def test_the_vamp_prior_kl_is_monte_carlo_against_the_mixture_of_posteriors(test_images):
    model = zoo.get("vamp_vae", latent_dim=3, hidden_units=(16,), components=7)
    x = test_images[:32]
    terms = model.terms(x, 20, SEED)
    _, z = by_hand_log_weights(model, x, 20, SEED)
    q_u = model.encoder(np.clip(model.prior_layer.pseudo_inputs.numpy(), 0, 1))
    loc, scale = q_u.loc.numpy(), q_u.stddev().numpy()                        # (7, 3)
    z = z.numpy()[:, :, None, :]                                             # (20, 32, 1, 3)
    log_components = np.sum(-0.5 * ((z - loc) / scale) ** 2 - np.log(scale)
                            - 0.5 * np.log(2 * np.pi), axis=-1)              # (20, 32, 7)
    log_prior = logsumexp(log_components, axis=-1) - np.log(7)
    np.testing.assert_allclose(terms.log_prior, log_prior, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(terms.kl, np.mean(terms.log_posterior - log_prior, 0),
                               rtol=1e-4, atol=1e-4)


def test_the_vamp_prior_trains_and_model_prior_is_the_trained_one(test_images):
    model = zoo.get("vamp_vae", latent_dim=3, hidden_units=(16,), components=7,
                    learning_rate=1e-2)
    pseudo_inputs = model.prior_layer.pseudo_inputs.numpy()
    model.fit(test_images[:256], batch_size=64, epochs=2, verbose=0)
    assert np.abs(model.prior_layer.pseudo_inputs.numpy() - pseudo_inputs).max() > 1e-3
    q_u = model.encoder(np.clip(model.prior_layer.pseudo_inputs.numpy(), 0, 1))
    np.testing.assert_allclose(model.prior.components_distribution.loc, q_u.loc, rtol=1e-6)


def test_the_mixture_prior_trains_and_model_prior_is_the_trained_one(test_images):
    model = zoo.get("mog_vae", latent_dim=3, hidden_units=(16,), components=5,
                    learning_rate=1e-2)
    before = [v.numpy() for v in model.prior_layer.trainable_variables]
    assert len(before) == 3  # logits, means, scales
    model.fit(test_images[:256], batch_size=64, epochs=2, verbose=0)
    for old, new in zip(before, model.prior_layer.trainable_variables, strict=True):
        assert np.abs(new.numpy() - old).max() > 1e-3
    np.testing.assert_allclose(model.prior.components_distribution.loc,
                               model.prior_layer.means.numpy())
    np.testing.assert_allclose(model.prior.mixture_distribution.logits,
                               model.prior_layer.logits.numpy())


@pytest.mark.parametrize("name, step", [("iaf_vae", {"made_units": (8, 8)}),
                                        ("nvp_vae", {"coupling_units": (8, 8)}),
                                        ("linnf_vae", {"flow": "planar"}),
                                        ("linnf_vae", {"flow": "radial"})],
                         ids=["iaf", "nvp", "planar", "radial"])
def test_a_flow_posterior_log_prob_of_its_samples_matches_the_flows_jacobian(
        name, step, test_images):
    tf_keras.utils.set_random_seed(0)  # the 4 big steps below move every flow
    model = zoo.get(name, latent_dim=3, hidden_units=(16,), flows=2, context_dim=4, **step)
    posterior = model.encoder(test_images[:16]).tensor_distribution
    z0 = posterior.distribution.sample(seed=[3, 4])
    # Each step starts as the identity (only a permutation between them, iaf and nvp's,
    # moves z): volume 1.
    np.testing.assert_allclose(posterior.bijector.forward_log_det_jacobian(z0, 1), 0.0,
                               atol=1e-6)
    np.testing.assert_allclose(np.sort(posterior.bijector.forward(z0)), np.sort(z0),
                               atol=1e-6)
    model.compile(learning_rate=0.05)  # a few big steps: the flow moves, its masks kept
    model.fit(test_images[:256], batch_size=64, verbose=0)
    posterior = model.encoder(test_images[:16]).tensor_distribution
    z0 = posterior.distribution.sample(seed=[3, 4])                          # (16, 3)
    with tf.GradientTape() as tape:
        tape.watch(z0)
        z = posterior.bijector.forward(z0)
    jacobian = tape.batch_jacobian(z, z0)                                    # (16, 3, 3)
    _, log_det = np.linalg.slogdet(jacobian.numpy().astype(np.float64))
    assert np.abs(log_det).max() > 0.1  # the flow does something
    by_hand = posterior.distribution.log_prob(z0).numpy() - log_det
    np.testing.assert_allclose(posterior.log_prob(z), by_hand, rtol=1e-4, atol=1e-4)
    fresh_z = tf.constant(z.numpy())  # no cached inverse: the flow is inverted anew
    np.testing.assert_allclose(posterior.log_prob(fresh_z), by_hand, rtol=1e-4, atol=1e-4)
    terms = model.terms(test_images[:16], 4, SEED)  # and the model's own samples
    assert terms.log_posterior.shape == (4, 16) and np.isfinite(terms.kl).all()


@pytest.mark.parametrize("flow", ["planar", "radial"])
def test_planar_and_radial_steps_invert_and_match_their_jacobians_for_any_parameters(flow):
    """Random parameters, one flow per row, some where the invertibility constraint acts
    (w.u < -1; beta near -alpha): the log-determinant against the Jacobian by autodiff,
    and the numerical (planar) or closed-form (radial) inverse against the forward map."""
    rng = np.random.default_rng(7)
    d, rows = 4, 12
    scale = np.repeat([1.0, 4.0, -4.0], 4)[:, None].astype(np.float32)  # -4: constraint acts
    if flow == "planar":
        w = rng.normal(size=(rows, d)).astype(np.float32)
        step = bijectors.Planar(scale * w + rng.normal(size=(rows, d)).astype(np.float32), w,
                                rng.normal(size=rows).astype(np.float32))
        assert (np.sum(step._w * step._u, -1) < -1).any()
    else:
        a = rng.normal(size=rows).astype(np.float32)
        step = bijectors.Radial(rng.normal(size=(rows, d)).astype(np.float32), a,
                                a + scale[:, 0])                           # beta near -alpha
    z = tf.constant(rng.normal(size=(rows, d)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = step.forward(z)
    _, log_det = np.linalg.slogdet(tape.batch_jacobian(y, z).numpy().astype(np.float64))
    np.testing.assert_allclose(step.forward_log_det_jacobian(z, 1), log_det, atol=1e-4)
    fresh_y = tf.constant(y.numpy())  # no cache: the inverse computed
    np.testing.assert_allclose(step.inverse(fresh_y), z, atol=1e-4)
    np.testing.assert_allclose(step.inverse_log_det_jacobian(fresh_y, 1), -log_det, atol=1e-3)


@pytest.mark.parametrize("d", [2, 3, 10, 64])
def test_von_mises_fisher_codes_have_the_exact_mean_and_gradient_and_kl(d):
    """The zoo's vMF sampler (Wood's proposals on the model's noise, implicit gradients in
    kappa) against TFP's closed forms: E[mu.z] = A_d(kappa) (``mean()``) and its derivative
    in kappa, and the analytic KL to the uniform prior against its Monte Carlo estimate
    from the same codes."""
    rng = np.random.default_rng(d)
    mu = tf.math.l2_normalize(tf.constant(rng.normal(size=(4, d)), tf.float32), -1)
    kappa = tf.constant([0.3, 2.0, 10.0, 80.0])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(kappa)
        posterior = tfd.VonMisesFisher(mu, kappa)
        z = posteriors.von_mises_fisher_codes(posterior, 40_000, SEED)   # (S, 4, d)
        cosine = tf.reduce_mean(tf.reduce_sum(z * mu, -1), 0)
        exact = tf.reduce_sum(posterior.mean() * mu, -1)
    np.testing.assert_allclose(np.linalg.norm(z, axis=-1), 1.0, atol=1e-5)
    np.testing.assert_allclose(cosine, exact, atol=0.01)
    np.testing.assert_allclose(tape.gradient(cosine, kappa), tape.gradient(exact, kappa),
                               rtol=0.05, atol=1e-5)
    # the codes' mean, A_d(kappa) mu: the reflection takes e_1 onto mu
    np.testing.assert_allclose(tf.reduce_mean(z, 0), posterior.mean(), atol=0.015)
    prior = tfd.SphericalUniform(dimension=d)
    monte_carlo = np.mean(posterior.log_prob(z) - prior.log_prob(z), 0)
    np.testing.assert_allclose(tfd.kl_divergence(posterior, prior), monte_carlo,
                               rtol=0.02, atol=0.01)


def test_a_leapfrog_step_preserves_volume_and_retraces_itself_with_the_momentum_negated():
    """``hamiltonian.leapfrog`` on a non-Gaussian log-density: the Jacobian of (z, rho) ->
    (z', rho') has determinant 1, and a step from (z', -rho') lands on (z, -rho)."""
    def gradient(z):  # log p(z) = -sum(z^4) / 4 - sum(z) ^ 2 / 2, its gradient by hand
        return -z ** 3 - tf.reduce_sum(z, -1, keepdims=True), None

    rng = np.random.default_rng(3)
    state = tf.constant(rng.normal(size=(5, 6)), tf.float64)              # (z, rho), d = 3
    with tf.GradientTape() as tape:
        tape.watch(state)
        z, rho, grad, _ = hamiltonian.leapfrog(state[:, :3], state[:, 3:],
                                               gradient(state[:, :3])[0], 0.3, gradient)
        moved = tf.concat([z, rho], -1)
    np.testing.assert_allclose(np.linalg.det(tape.batch_jacobian(moved, state)), 1.0,
                               rtol=1e-10)
    assert np.abs(moved - state).max() > 0.1
    np.testing.assert_allclose(grad, gradient(z)[0])  # the next step's start
    back_z, back_rho, _, _ = hamiltonian.leapfrog(z, -rho, grad, 0.3, gradient)
    np.testing.assert_allclose(back_z, state[:, :3], atol=1e-12)
    np.testing.assert_allclose(-back_rho, state[:, 3:], atol=1e-12)


def test_the_hamiltonian_vaes_weights_average_to_p_x_computed_on_a_grid(test_images):
    """Tempered leapfrog codes are importance weights of p(x) on the extended space (the
    steps' volume, the tempering's beta_0^(d/2) and the momentum's densities accounted
    for): their log-mean-exp over 10,000 draws is log p(x), which a 2-d code lets us sum
    on a grid. A tempering left uncounted would be off by (d/2) log beta_0 = -1.2 nats."""
    tf_keras.utils.set_random_seed(1)
    model = zoo.get("hamiltonian_vae", latent_dim=2, hidden_units=(32,), n_lf=2, eps=0.2,
                    beta_zero=0.3)
    model.fit(test_images, batch_size=64, epochs=3, verbose=0)
    x = test_images[:2]
    posterior = model.encoder(x).tensor_distribution
    log_px = []
    for image, centre, width in zip(x, posterior.mean().numpy(),  # the posterior's +-8 sd
                                    8 * posterior.stddev().numpy().max(1), strict=True):
        grid = np.linspace(-width, width, 301, dtype=np.float32)
        codes = centre + np.stack(np.meshgrid(grid, grid), -1).reshape(-1, 2)    # (90601, 2)
        log_joint = np.concatenate([  # log p(x|z) + log p(z) at each grid point
            (model.decoder(part).log_prob(image) + model.prior.log_prob(part)).numpy()
            for part in np.array_split(codes, 4)]).astype(np.float64)
        log_px.append(logsumexp(log_joint, 0) + 2 * np.log(grid[1] - grid[0]))
    log_weights = model.terms(x, 10_000, SEED).log_weights.numpy()        # (10000, 2)
    estimate = logsumexp(log_weights, 0) - np.log(10_000)
    np.testing.assert_allclose(estimate, log_px, atol=0.1)
    moved = model.terms(x, 4, SEED).codes - posteriors.reparameterized_sample(
        model.encoder(x), 4, SEED)
    assert np.abs(moved).max() > 0.05  # the steps moved the codes


def test_vector_quantization_is_straight_through_with_its_codebook_and_commitment_by_hand():
    """``posteriors.VectorQuantizer`` and ``objectives.VectorQuantization`` on a 2-position
    grid of 2-d codes and 3 codebook vectors: the codes are the nearest vectors; with a
    reconstruction term linear in the codes (-log p(x|z) = c.z), the loss's gradient at z_e
    is c (straight through) + 2 beta (z_e - z_q), and at each codebook vector 2 (e_j - z_e)
    summed over the positions that chose it; the prior's term reaches neither."""
    quantizer = posteriors.VectorQuantizer(3, 2)
    codebook = np.array([[0.0, 0.0], [1.0, 1.0], [-1.0, 2.0]], np.float32)
    quantizer.codebook.assign(codebook)
    z_e = tf.Variable([[0.9, 1.2, 0.1, -0.2], [-0.8, 1.5, 0.7, 0.6]])  # 2 examples
    chosen = np.array([[1, 0], [2, 1]])                                # nearest, by eye
    c = tf.constant(np.random.default_rng(0).normal(size=(2, 4)), tf.float32)
    log_prior = tf.Variable([-3.0, -4.0])                              # a stand-in p(k)
    with tf.GradientTape(persistent=True) as tape:
        posterior = quantizer(z_e)
        z = posteriors.reparameterized_sample(posterior, 1, SEED)      # (1, 2, 4)
        terms = objectives.Terms(-tf.reduce_sum(c * z, -1), log_prior[None],
                                 posterior.log_prob(z), -log_prior, posterior, z)
        values = objectives.VectorQuantization(commitment=0.5).values(terms)
        loss = tf.reduce_sum(values["loss"])
    z_q = codebook[chosen].reshape(2, 4)
    np.testing.assert_array_equal(quantizer.nearest(z_e), chosen)
    np.testing.assert_allclose(z[0], z_q, atol=1e-6)
    np.testing.assert_allclose(posterior.log_prob(z), 0.0)             # q(k|x) = 1
    np.testing.assert_allclose(values["quantization_error"],
                               ((z_e.numpy() - z_q) ** 2).sum(1), rtol=1e-6)
    np.testing.assert_allclose(values["neg_elbo"], (c * z_q).numpy().sum(1) + [3.0, 4.0],
                               rtol=1e-6)
    np.testing.assert_allclose(tape.gradient(loss, z_e), c + 2 * 0.5 * (z_e - z_q),
                               rtol=1e-5, atol=1e-6)
    by_hand = np.zeros_like(codebook)
    for vector, index in zip(z_e.numpy().reshape(4, 2), chosen.reshape(4), strict=True):
        by_hand[index] += 2 * (codebook[index] - vector)
    np.testing.assert_allclose(tf.convert_to_tensor(tape.gradient(loss, quantizer.codebook)),
                               by_hand, atol=1e-5)
    np.testing.assert_allclose(tape.gradient(loss, log_prior), [-1.0, -1.0])


def test_vector_quantization_with_another_posterior_is_one_line(test_images):
    model = small("mlp_vae", latent_dim=2)
    terms = model.terms(test_images[:2], 1, SEED)
    with pytest.raises(zoo.ZooError, match="VectorQuantization takes a VQ-VAE's posterior, "
                       "not a DiagonalNormal: end the encoder in a "
                       r"posteriors.VectorQuantizer \(as vq_vae does\), or use ELBO"):
        objectives.VectorQuantization().values(terms)


def test_the_pixel_cnn_prior_over_code_grids_sums_to_one_and_draws_codebook_codes():
    """``priors.PixelCNNCodeGrid`` over a 2x2 grid of 3 codes, untrained: the probabilities
    of all 3^4 grids sum to 1 (the masks hold from the start: without them the sum is
    not 1), draws are codebook vectors, the same for the same seed, and their frequencies
    match the probabilities."""
    tf_keras.utils.set_random_seed(2)
    quantizer = posteriors.VectorQuantizer(3, 2)
    prior = zoo.models.priors.PixelCNNCodeGrid(quantizer, (2, 2), filters=8, depth=1,
                                               mixtures=2).distribution()
    grids = np.stack(np.meshgrid(*[range(3)] * 4, indexing="ij"), -1).reshape(-1, 4)
    probabilities = np.exp(prior.log_prob(quantizer.embedded(grids)).numpy()
                           .astype(np.float64))
    assert probabilities.sum() == pytest.approx(1.0, abs=1e-5)
    draws = prior.sample(4000, seed=tf.constant([1, 2]))
    np.testing.assert_array_equal(draws, prior.sample(4000, seed=tf.constant([1, 2])))
    indices = quantizer.nearest(draws).numpy()
    np.testing.assert_allclose(quantizer.embedded(indices), draws)
    frequencies = np.bincount(indices @ [27, 9, 3, 1], minlength=81) / 4000
    assert np.abs(frequencies - probabilities).max() < 0.03
    assert probabilities.max() > 2 * probabilities.min()  # far from uniform: a real test


def test_the_vq_vae_trains_its_prior_after_the_autoencoder_on_its_frozen_codes(
        test_images, tmp_path):
    """vq_vae's stages over a fit of 3 epochs with prior_epochs=1: epochs 1-2 move the
    autoencoder and not the prior, epoch 3 the prior alone (at its full rate, the cosine's
    start) on the last codes, fitting them better; every step counted by the model's
    optimizer, the prior's own only in its epoch; both optimizers' states kept in a .keras
    file; a fit of 1 epoch is refused."""
    x = test_images[:128]
    model = small("vq_vae", prior_epochs=1, prior_learning_rate=3e-3)
    snapshots = [[v.numpy().copy() for v in (*model.optimizer_variables,
                                             *model.prior_variables)]]
    every_epoch = tf_keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: (
        snapshots.append([v.numpy().copy() for v in (*model.optimizer_variables,
                                                     *model.prior_variables)])))
    history = model.fit(x, batch_size=32, epochs=3, verbose=0, callbacks=[every_epoch])
    count = len(model.optimizer_variables)

    def moved(before, after, part):
        pairs = zip(before[:count], after[:count], strict=True) if part == "autoencoder" \
            else zip(before[count:], after[count:], strict=True)
        return [bool((a != b).any()) for a, b in pairs]

    for epoch in (1, 2):
        assert all(moved(snapshots[epoch - 1], snapshots[epoch], "autoencoder"))
        assert not any(moved(snapshots[epoch - 1], snapshots[epoch], "prior"))
    assert not any(moved(snapshots[2], snapshots[3], "autoencoder"))
    assert all(moved(snapshots[2], snapshots[3], "prior"))
    assert model.optimizer.iterations.numpy() == 12 and model.step.numpy() == 12
    assert model.prior_optimizer.iterations.numpy() == 4
    assert model.prior_optimizer.lr.numpy() == pytest.approx(3e-3)
    kl = history.history["kl"]  # -log p(k): the third epoch's prior fits the frozen codes
    assert kl[2] < kl[1] - 1.0
    model.save(tmp_path / "vq.keras")
    loaded = tf_keras.models.load_model(tmp_path / "vq.keras")
    assert loaded.prior_epochs == 1 and len(loaded.prior_optimizer.weights) > 1
    for mine, theirs in zip((*model.optimizer.weights, *model.prior_optimizer.weights),
                            (*loaded.optimizer.weights, *loaded.prior_optimizer.weights),
                            strict=True):
        np.testing.assert_array_equal(mine, theirs)
    with pytest.raises(zoo.ZooError, match="trains its prior alone in the last prior_epochs=1 "
                       r"epochs of a fit, after the autoencoder: fit it for more than 1 "
                       r"epochs \(not 1\)"):
        model.fit(x, batch_size=32, epochs=1, verbose=0)


def test_dreg_keeps_the_bound_and_the_decoder_gradient_and_reweights_the_encoders(
        test_images):
    """DReG (Tucker et al. 2018) by hand: the encoder's gradient is that of
    -sum_k v_k^2 log w_k with q's parameters held fixed, z's path alone."""
    x = test_images[:32]
    iwae = zoo.get("iwae", latent_dim=3, hidden_units=(16,), k=4)
    dreg = zoo.get("iwae", latent_dim=3, hidden_units=(16,), k=4, gradient="dreg")
    dreg.set_weights(iwae.get_weights())

    def loss_and_gradients(model):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.objective(model, x, SEED)["loss"])
        return loss, tape.gradient(loss, model.trainable_variables)

    (iwae_loss, iwae_grads), (dreg_loss, dreg_grads) = map(loss_and_gradients, (iwae, dreg))
    assert float(dreg_loss) == pytest.approx(float(iwae_loss), rel=1e-6)
    encoder_count = len(dreg.encoder.trainable_variables)
    for a, b in zip(iwae_grads[encoder_count:], dreg_grads[encoder_count:], strict=True):  # decoder
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)

    with tf.GradientTape() as tape:  # the encoder's gradient by hand
        posterior = dreg.encoder(x)
        eps = tf.random.stateless_normal([4, 32, 3], SEED)
        z = posterior.loc + posterior.stddev() * eps
        held = tfd.MultivariateNormalDiag(tf.stop_gradient(posterior.loc),
                                          tf.stop_gradient(posterior.stddev()))
        rv_x = dreg.decoder(tf.reshape(z, [-1, 3]))
        log_weights = (tf.reshape(rv_x.log_prob(np.tile(x, (4, 1, 1, 1))), [4, 32])
                       + dreg.prior.log_prob(z) - held.log_prob(z))
        squared = tf.stop_gradient(tf.nn.softmax(log_weights, axis=0) ** 2)
        surrogate = -tf.reduce_mean(tf.reduce_sum(squared * log_weights, axis=0))
    by_hand = tape.gradient(surrogate, dreg.encoder.trainable_variables)
    for a, b in zip(dreg_grads[:encoder_count], by_hand, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    assert any(not np.allclose(a, c, rtol=1e-2) for a, c in zip(  # not IWAE's estimator
        dreg_grads[:encoder_count], iwae_grads[:encoder_count], strict=True))


def test_miwae_and_ciwae_are_their_bounds_of_the_log_weights_by_hand(test_images):
    x = test_images[:32]
    miwae = zoo.get("miwae", latent_dim=4, hidden_units=(32,), k=3, m=2)
    log_weights, _ = by_hand_log_weights(miwae, x, 6, SEED)        # (6, 32): 2 estimates of 3
    by_hand = np.mean([logsumexp(log_weights[j * 3:(j + 1) * 3], 0) - np.log(3)
                       for j in range(2)], 0)
    np.testing.assert_allclose(miwae.objective(miwae, x, SEED)["loss"], -by_hand, rtol=1e-5)
    iwae = logsumexp(log_weights, 0) - np.log(6)
    assert np.all(-by_hand >= -iwae - 1e-4)  # looser than the IWAE bound of all six
    ciwae = zoo.get("ciwae", latent_dim=4, hidden_units=(32,), k=6, beta=0.25)
    ciwae.set_weights(miwae.get_weights())
    np.testing.assert_allclose(ciwae.objective(ciwae, x, SEED)["loss"],
                               -(0.25 * np.mean(log_weights, 0) + 0.75 * iwae), rtol=1e-5)


def test_piwae_trains_its_decoder_on_iwae_and_its_encoder_on_miwae(test_images):
    """Rainforth et al.'s two gradient paths: each part's gradient equals the one its bound
    gives alone, from the same codes."""
    x = test_images[:32]
    piwae = zoo.get("piwae", latent_dim=3, hidden_units=(16,), k=2, m=3)
    iwae = zoo.get("iwae", latent_dim=3, hidden_units=(16,), k=6)
    miwae = zoo.get("miwae", latent_dim=3, hidden_units=(16,), k=2, m=3)
    for model in (iwae, miwae):
        model.set_weights(piwae.get_weights())

    def loss_and_gradients(model):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.objective(model, x, SEED)["loss"])
        return loss, tape.gradient(loss, model.trainable_variables)

    (loss, grads), (iwae_loss, iwae_grads), (_, miwae_grads) = map(
        loss_and_gradients, (piwae, iwae, miwae))
    assert float(loss) == pytest.approx(float(iwae_loss), rel=1e-6)  # its value: IWAE(m·k)
    encoder_count = len(piwae.encoder.trainable_variables)
    for a, b in zip(grads[encoder_count:], iwae_grads[encoder_count:], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)  # decoder: IWAE's
    for a, b in zip(grads[:encoder_count], miwae_grads[:encoder_count], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)  # encoder: MIWAE's
    assert any(not np.allclose(a, b, rtol=1e-2) for a, b in zip(
        iwae_grads[:encoder_count], miwae_grads[:encoder_count], strict=True))


def test_the_hierarchical_log_weights_and_kl_sum_over_both_layers(test_images):
    model = zoo.get("hvae", latent_dim=3, units=16)
    x, samples = test_images[:16], 4
    terms = model.terms(x, samples, SEED)

    fold = tf.random.experimental.stateless_fold_in
    upper = model.encoder(x)                                                   # q(z2|x)
    z2 = upper.loc + upper.stddev() * tf.reshape(
        tf.random.stateless_normal([samples, 1, 16, 3], fold(SEED, 2)), [samples, 16, 3])
    z2_rows, x_rows = tf.reshape(z2, [-1, 3]), np.tile(x, (samples, 1, 1, 1))
    lower = model.lower_encoder([x_rows, z2_rows])                             # q(z1|x,z2)
    z1 = lower.loc + lower.stddev() * tf.reshape(
        tf.random.stateless_normal([1, samples, 16, 3], fold(SEED, 1)), [-1, 3])
    conditional = model.conditional_prior(z2_rows)                             # p(z1|z2)
    standard = tfd.MultivariateNormalDiag(tf.zeros(3), tf.ones(3))             # p(z2)
    log_weights = (model.likelihood([z1, z2_rows]).log_prob(x_rows)
                   + conditional.log_prob(z1) + standard.log_prob(z2_rows)
                   - lower.log_prob(z1) - tf.reshape(upper.log_prob(z2), [-1]))
    np.testing.assert_allclose(terms.log_weights, tf.reshape(log_weights, [samples, 16]),
                               rtol=1e-5, atol=1e-4)
    kl = (tfd.kl_divergence(upper, standard)
          + tf.reduce_mean(tf.reshape(tfd.kl_divergence(lower, conditional), [samples, 16]), 0))
    np.testing.assert_allclose(terms.kl, kl, rtol=1e-5)


def test_the_tc_objective_is_the_minibatch_weighted_decomposition_of_the_kl(test_images):
    model = zoo.get("beta_tcvae", latent_dim=3, hidden_units=(16,), beta=6.0,
                    dataset_size=1000)
    x = test_images[:32]
    terms = model.terms(x, 1, SEED)
    values = model.objective.values(terms)

    posterior = model.encoder(x)  # by hand, in float64
    loc, scale = posterior.loc.numpy().astype(np.float64), posterior.stddev().numpy()
    z = terms.codes[0].numpy().astype(np.float64)                             # (32, 3)
    pairs = (-0.5 * ((z[:, None, :] - loc[None]) / scale[None]) ** 2
             - np.log(scale[None]) - 0.5 * np.log(2 * np.pi))                 # (32, 32, 3)
    log_nm = np.log(1000 * 32)
    log_aggregate = logsumexp(pairs.sum(-1), 1) - log_nm
    log_marginals = (logsumexp(pairs, 1) - log_nm).sum(-1)
    log_posterior, log_prior = terms.log_posterior[0].numpy(), terms.log_prior[0].numpy()
    mutual_information = log_posterior - log_aggregate
    total_correlation = log_aggregate - log_marginals
    dimension_kl = log_marginals - log_prior
    np.testing.assert_allclose(
        values["loss"], terms.reconstruction.numpy() + mutual_information
        + 6.0 * total_correlation + dimension_kl, rtol=1e-5)
    at_one = BetaTC(beta=1.0, dataset_size=1000).values(terms)["loss"]  # the ELBO, MC KL
    np.testing.assert_allclose(at_one, terms.reconstruction + log_posterior - log_prior,
                               rtol=1e-6)
    assert np.mean(total_correlation) > 0.01
    np.testing.assert_allclose(values["total_correlation"], total_correlation, rtol=1e-4,
                               atol=1e-4)


def unbiased_mmd(codes, prior_codes, kernel):
    """MMD^2 between two samples by its definition (Gretton et al. 2012), double loops."""
    m = len(codes)
    same = sum(kernel(codes[i], codes[j]) + kernel(prior_codes[i], prior_codes[j])
               for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    cross = sum(kernel(codes[i], prior_codes[j]) for i in range(m) for j in range(m))
    return same - 2 * cross / m ** 2


@pytest.mark.parametrize("kernel", ["imq", "rbf"])
def test_the_mmd_objective_is_the_unbiased_mmd_of_the_codes_and_prior_draws(
        kernel, test_images):
    model = zoo.get("mmd_vae", latent_dim=3, hidden_units=(16,), alpha=0.5, lam=10.0,
                    kernel=kernel)
    x = test_images[:12]
    values = model.objective(model, x, SEED)
    terms = model.terms(x, 1, SEED)
    codes = terms.codes[0].numpy().astype(np.float64)
    prior_codes = model.prior.sample(12, seed=tf.random.experimental.stateless_fold_in(
        SEED, -1)).numpy().astype(np.float64)
    width = 2 * 3 * 1.0

    def by_hand_kernel(a, b):
        squared = np.sum((a - b) ** 2)
        return np.exp(-squared / width) if kernel == "rbf" else width / (width + squared)

    estimate = unbiased_mmd(codes, prior_codes, by_hand_kernel)
    assert np.mean(values["mmd"]) == pytest.approx(estimate, rel=1e-4, abs=1e-6)
    np.testing.assert_allclose(  # (1 - alpha) KL + (alpha + lambda - 1) MMD_i
        values["loss"], terms.reconstruction + 0.5 * terms.kl + 9.5 * values["mmd"],
        rtol=1e-5)
    np.testing.assert_allclose(values["neg_elbo"], terms.reconstruction + terms.kl, rtol=1e-6)
    # codes moved away from the prior: the kernels across vanish, the discrepancy grows
    far = model.objective.discrepancy(codes + 5.0, codes + 5.0, prior_codes)
    assert float(np.mean(far)) > estimate + 0.1


def bernoulli_reconstruction(model, x, codes):
    """-log p(x|z) of each image at its code, from the decoder's logits by hand (nats)."""
    logits = model.decoder(codes).distribution.logits.numpy().reshape(len(x), -1)
    pixels = x.reshape(len(x), -1)
    return np.sum(np.logaddexp(0, logits) - pixels * logits, axis=1)


def test_the_autoencoders_codes_are_the_encoders_output_and_their_losses_by_hand(test_images):
    """ae: the reconstruction alone; rae_l2: + b |z|^2/2 + c |theta_dec|^2/2; rae_gp: + b
    |z|^2/2 + c |d/dz sum E[x|z]|^2 (from each pixel's derivative, the decoder's Jacobian);
    each at the code z = f(x), in nats, with no ELBO nor KL among the values. (rae_gp's
    second derivative: the test after this one.)"""
    x = test_images[:6]
    for name in ("ae", "rae_l2", "rae_gp"):
        model = small(name, latent_dim=3, **({} if name == "ae" else {
            "code_weight": 0.5, "decoder_weight": 0.25}))
        values = model.objective(model, x, SEED)
        assert set(values) == set(objectives.names_of(model.objective))
        assert "neg_elbo" not in values and "kl" not in values
        codes = model.encoder(x).distribution.mean().numpy()
        assert codes.shape == (6, 3)  # a point mass: the encoder's output, no noise
        np.testing.assert_allclose(model.terms(x, 2, SEED).codes, [codes, codes])
        reconstruction = bernoulli_reconstruction(model, x, codes)
        np.testing.assert_allclose(values["reconstruction"], reconstruction, rtol=1e-4)
        if name == "ae":
            np.testing.assert_allclose(values["loss"], reconstruction, rtol=1e-4)
            continue
        code_penalty = 0.5 * np.sum(codes.astype(np.float64) ** 2, axis=1)
        np.testing.assert_allclose(values["code_penalty"], code_penalty, rtol=1e-5)
        if name == "rae_l2":
            decoder_penalty = np.full(6, 0.5 * sum(
                np.sum(v.numpy().astype(np.float64) ** 2)
                for v in model.decoder.trainable_variables))
            np.testing.assert_allclose(values["decoder_penalty"], decoder_penalty, rtol=1e-5)
        else:
            z = tf.constant(codes)
            with tf.GradientTape() as tape:  # every pixel's derivative, then the sums
                tape.watch(z)
                means = tf.reshape(model.decoder(z).mean(), [6, -1])
            jacobian = tape.batch_jacobian(means, z).numpy().astype(np.float64)  # (6, D, 3)
            decoder_penalty = np.sum(np.sum(jacobian, axis=1) ** 2, axis=1)
            np.testing.assert_allclose(values["decoder_penalty"], decoder_penalty, rtol=1e-4)
        np.testing.assert_allclose(values["loss"], reconstruction + 0.5 * code_penalty
                                   + 0.25 * decoder_penalty, rtol=2e-4)


def test_the_gradient_penalty_trains_the_decoder_through_its_second_derivative(test_images):
    """rae_gp's penalty is a gradient: its own gradient in the decoder's weights (a second
    derivative, from the step's tape) is the penalty's slope along that gradient, by central
    differences; the same penalty with the encoder frozen."""
    tf_keras.utils.set_random_seed(0)
    model = small("rae_gp", latent_dim=3)
    x = test_images[:6]
    weights = model.decoder.trainable_variables

    def penalty():
        return float(tf.reduce_mean(model.objective(model, x, SEED)["decoder_penalty"]))

    with tf.GradientTape() as tape:
        value = tf.reduce_mean(model.objective(model, x, SEED)["decoder_penalty"])
    gradients = [g.numpy() for g in tape.gradient(value, weights)]
    norm = np.sqrt(sum(np.sum(g.astype(np.float64) ** 2) for g in gradients))
    assert norm > 0
    start, step, changes = [w.numpy() for w in weights], 1e-2, []
    for sign in (1, -1):  # along the unit gradient: the slope there is its norm
        for weight, value, gradient in zip(weights, start, gradients, strict=True):
            weight.assign(value + sign * step * gradient / norm)
        changes.append(penalty())
    for weight, value in zip(weights, start, strict=True):
        weight.assign(value)
    # (float32 differences of a penalty of 0.01: within 1-3% at steps from 1e-2 to 3e-4)
    assert (changes[0] - changes[1]) / (2 * step) == pytest.approx(norm, rel=2e-2)
    model.encoder.trainable = False  # the codes a constant of the weights: the same penalty
    with tf.GradientTape() as tape:
        frozen = tf.reduce_mean(model.objective(model, x, SEED)["decoder_penalty"])
    assert float(frozen) == pytest.approx(penalty(), rel=1e-6) and float(frozen) > 0
    assert all(g is not None for g in tape.gradient(frozen, weights))


def test_the_wae_penalty_is_lambda_times_the_unbiased_mmd_of_the_codes(test_images):
    """wae_mmd: -log p(x|z) + lam MMD_i at the point-mass codes, the MMD by its definition
    (mmd_vae's, with alpha = 1, is the same loss on codes drawn from a Gaussian)."""
    model = small("wae_mmd", latent_dim=3, lam=7.0)
    x = test_images[:10]
    values = model.objective(model, x, SEED)
    assert set(values) == {"loss", "reconstruction", "mmd"}
    codes = model.encoder(x).distribution.mean().numpy().astype(np.float64)
    prior_codes = model.prior.sample(10, seed=tf.random.experimental.stateless_fold_in(
        SEED, -1)).numpy().astype(np.float64)

    def by_hand_kernel(a, b):
        return 6.0 / (6.0 + np.sum((a - b) ** 2))  # IMQ, C = 2 d scale^2 = 6

    estimate = unbiased_mmd(codes, prior_codes, by_hand_kernel)
    assert np.mean(values["mmd"]) == pytest.approx(estimate, rel=1e-4, abs=1e-6)
    reconstruction = bernoulli_reconstruction(model, x, codes.astype(np.float32))
    np.testing.assert_allclose(values["loss"], reconstruction + 7.0 * values["mmd"], rtol=1e-4)
    cousin = objectives.MMD(alpha=1.0, lam=7.0)  # the MMD-VAE's loss at the same codes
    np.testing.assert_allclose(cousin(model, x, SEED)["loss"], values["loss"], rtol=1e-6)


def log_softmax(logits):
    logits = np.asarray(logits, np.float64)
    return logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)


def test_the_adversarial_autoencoders_losses_are_the_discriminators_cross_entropies(
        test_images):
    """aae: -log p(x|z) - weight log D_prior(z) for the encoder, -[log D_prior(z') + log
    D_code(z)] / 2 for the discriminator, z' the prior's draws; one step trains the
    discriminator with its own optimizer and the rest with the model's."""
    model = small("aae", latent_dim=3, weight=2.0)
    x = test_images[:10]
    values = model.objective(model, x, SEED)
    assert set(values) == {"loss", "reconstruction", "adversarial_loss", "discriminator_loss"}
    codes = model.encoder(x).distribution.mean().numpy()
    prior_codes = model.prior.sample(10, seed=tf.random.experimental.stateless_fold_in(
        SEED, -1)).numpy()
    log_d, log_d_prior = (log_softmax(model.discriminator(z)) for z in (codes, prior_codes))
    np.testing.assert_allclose(values["adversarial_loss"], -log_d[:, 0], rtol=1e-5)
    np.testing.assert_allclose(values["discriminator_loss"],
                               -0.5 * (log_d_prior[:, 0] + log_d[:, 1]), rtol=1e-5)
    np.testing.assert_allclose(values["loss"], bernoulli_reconstruction(model, x, codes)
                               - 2.0 * log_d[:, 0], rtol=1e-4)
    theirs = {v.ref() for v in model.discriminator.trainable_variables}
    assert theirs and not theirs & {v.ref() for v in model.optimizer_variables}
    before = [v.numpy() for v in model.discriminator.trainable_variables]
    model.train_on_batch(x, x)
    assert int(model.discriminator_optimizer.iterations) == int(model.optimizer.iterations) == 1
    assert all(np.any(v.numpy() != b) for v, b in zip(
        model.discriminator.trainable_variables, before, strict=True))


def softplus(logits):
    return np.logaddexp(0, np.asarray(logits, np.float64))


def test_vae_gans_losses_are_its_discriminators_features_and_cross_entropies(test_images):
    """vae_gan: R = |f(x) - f(E[x|z])|^2 / 2 in the discriminator's features; the encoder's
    loss R + beta KL, the decoder's gamma R - log D(x~) - log D(x_p), the discriminator's
    -log D(x) - log(1 - D(x~)) - log(1 - D(x_p)), x_p decoded from the prior's draws; the
    ELBO's terms the decoder likelihood's."""
    model = small("vae_gan", latent_dim=3, beta=2.0, gamma=3.0)
    x = test_images[:10]
    values = model.objective(model, x, SEED)
    terms = model.terms(x, 1, SEED)
    rebuilt = terms.decoded.mean().numpy().reshape(x.shape)
    drawn = model.decode(model.prior.sample(10, seed=tf.random.experimental.stateless_fold_in(
        SEED, -1))).mean().numpy()
    (f_x, d_x), (f_r, d_r), (f_p, d_p) = ((f.numpy(), d.numpy()[:, 0]) for f, d in (
        model.discriminator(images) for images in (x, rebuilt, drawn)))
    reconstruction = 0.5 * np.sum((f_x.astype(np.float64) - f_r) ** 2, axis=1)
    kl = terms.kl.numpy()
    np.testing.assert_allclose(values["feature_reconstruction"], reconstruction, rtol=1e-4)
    np.testing.assert_allclose(values["loss"], reconstruction + 2.0 * kl, rtol=1e-4)
    np.testing.assert_allclose(values["decoder_loss"],
                               3.0 * reconstruction + softplus(-d_r) + softplus(-d_p), rtol=1e-4)
    np.testing.assert_allclose(values["discriminator_loss"],
                               softplus(-d_x) + softplus(d_r) + softplus(d_p), rtol=1e-5)
    np.testing.assert_allclose(values["discriminator_real"], softplus(-d_x), rtol=1e-5)
    np.testing.assert_allclose(values["discriminator_fake"], softplus(d_p), rtol=1e-5)
    np.testing.assert_allclose(values["kl"], kl, rtol=1e-6)
    np.testing.assert_allclose(values["neg_elbo"], terms.reconstruction.numpy() + kl, rtol=1e-6)


def test_vae_gans_objective_on_a_model_without_a_discriminator_is_one_line(test_images):
    with pytest.raises(ConfigError, match=r"^VAEGAN takes a model with a discriminator of "
                                          r"images .* a VAE has none$"):
        objectives.VAEGAN()(small("cnn_vae", latent_dim=3), test_images[:4], SEED)


def test_vae_gans_balance_rests_the_part_that_is_ahead():
    """Larsen et al.'s balance at equilibrium 0.68, margin 0.4: the discriminator rests
    while a cross-entropy is below 0.28, the decoder while one is above 1.08, and both
    train where both would rest."""
    balance = objectives.VAEGAN().balance
    for real, fake, expected in ((0.69, 0.69, (1, 1)), (0.2, 0.69, (1, 0)), (0.69, 0.27, (1, 0)),
                                 (1.2, 0.69, (0, 1)), (0.69, 1.1, (0, 1)), (0.2, 1.2, (1, 1)),
                                 (0.29, 1.07, (1, 1))):
        assert tuple(float(gate) for gate in balance(tf.constant(real), tf.constant(fake))) == (
            expected), (real, fake)


@pytest.mark.parametrize("equilibrium, margin, gates",
                         [(0.68, 0.4, (1, 1)), (0.1, 0.05, (0, 1)), (2.0, 0.5, (1, 0))],
                         ids=["both", "decoder_rests", "discriminator_rests"])
def test_vae_gans_step_trains_each_part_on_its_own_loss_where_the_balance_lets_it(
        test_images, equilibrium, margin, gates):
    """One training step from one forward pass: the model's optimizer moves the encoder by
    the gradient of ``loss``, the decoder's the decoder by ``decoder_loss``'s, the
    discriminator's the discriminator by ``discriminator_loss``'s (taken by hand on a twin:
    same weights, same noise step); a part the balance rests (its untrained cross-entropies
    near log 2 = 0.69, above 0.15 or below 1.5) keeps its weights exactly."""
    model, twin = (small("vae_gan", latent_dim=3, equilibrium=equilibrium, margin=margin)
                   for _ in range(2))
    twin.set_weights(model.get_weights())
    twin.reseeded(model.seed)
    rates = {"encoder": 0.1, "decoder": 0.05, "discriminator": 0.2}
    model.compile(optimizer=tf_keras.optimizers.legacy.SGD(rates["encoder"]))
    model.decoder_optimizer = tf_keras.optimizers.legacy.SGD(rates["decoder"])
    model.discriminator_optimizer = tf_keras.optimizers.legacy.SGD(rates["discriminator"])
    x = test_images[:64]
    with tf.GradientTape(persistent=True) as tape:
        values = twin.objective_values(x, training=True)
        losses = {part: tf.reduce_mean(values[name]) for part, name in (
            ("encoder", "loss"), ("decoder", "decoder_loss"),
            ("discriminator", "discriminator_loss"))}
    parts = {"encoder": twin.encoder.trainable_variables,
             "decoder": twin.decoder.trainable_variables,
             "discriminator": twin.discriminator.trainable_variables}
    moves = {"encoder": 1, "decoder": gates[0], "discriminator": gates[1]}
    expected = {variable.ref(): (variable - moves[part] * rates[part] * gradient).numpy()
                for part, variables in parts.items() for variable, gradient in zip(
                    variables, tape.gradient(losses[part], variables), strict=True)}
    assert len(expected) == len(model.trainable_variables)
    before = [variable.numpy() for variable in model.trainable_variables]
    model.train_on_batch(x, x)
    for variable, counterpart, start in zip(model.trainable_variables,
                                            twin.trainable_variables, before, strict=True):
        np.testing.assert_allclose(variable.numpy(), expected[counterpart.ref()], rtol=1e-4,
                                   atol=1e-6, err_msg=variable.name)
        resting = any(counterpart.ref() in {v.ref() for v in parts[part]} and not moves[part]
                      for part in parts)
        assert np.array_equal(variable.numpy(), start) == resting, variable.name


def test_the_ms_ssim_loss_is_d_times_one_minus_ms_ssim_on_the_scales_that_fit(test_images):
    """msssim_vae: D (1 - MS-SSIM(x, E[x|z])) + beta KL on the scales whose windows fit (as
    many as tf.image.ssim_multiscale accepts, no more), the weights renormalised; MS-SSIM
    TensorFlow's where it is positive, with a gradient where TensorFlow's is NaN; the ELBO's
    terms are the decoder likelihood's."""
    for size, window, scales in ((28, 3, 4), (28, 4, 4), (28, 11, 2), (64, 3, 5), (7, 3, 2)):
        assert objectives.ms_ssim_scales(size, size, window) == scales
        images = tf.zeros((1, size, size, 1))
        weights = objectives.MS_SSIM_WEIGHTS
        tf.image.ssim_multiscale(images, images, 1.0, filter_size=window,
                                 power_factors=weights[:scales])
        if scales < len(weights):
            with pytest.raises(tf.errors.InvalidArgumentError):
                tf.image.ssim_multiscale(images, images, 1.0, filter_size=window,
                                         power_factors=weights[:scales + 1])
    model = small("msssim_vae", latent_dim=3, beta=0.5)
    x = test_images[:8]
    values = model.objective(model, x, SEED)
    terms = model.terms(x, 1, SEED)
    means = tf.reshape(terms.decoded.mean(), x.shape)
    kept = [w / sum(objectives.MS_SSIM_WEIGHTS[:4]) for w in objectives.MS_SSIM_WEIGHTS[:4]]
    ours = similarity.ms_ssim(x, means, kept, 3)
    np.testing.assert_allclose(values["ms_ssim"], ours, rtol=1e-6)
    np.testing.assert_allclose(
        ours, tf.image.ssim_multiscale(x, means, 1.0, filter_size=3, power_factors=kept),
        rtol=1e-5)
    noise = tf.constant(np.random.default_rng(0).random(x.shape, np.float32))
    with tf.GradientTape(persistent=True) as tape:  # images unlike the digits: terms <= 0
        tape.watch(noise)
        floored = similarity.ms_ssim(x, noise, kept, 3)
        clamped = tf.image.ssim_multiscale(x, noise, 1.0, filter_size=3, power_factors=kept)
    positive = clamped.numpy() > 0
    assert positive.any() and not positive.all()
    np.testing.assert_allclose(floored.numpy()[positive], clamped.numpy()[positive], rtol=1e-5)
    assert np.isnan(tape.gradient(clamped, noise)).any()  # why the zoo has its own
    assert np.isfinite(tape.gradient(floored, noise)).all()
    np.testing.assert_allclose(values["loss"], 784 * (1 - ours) + 0.5 * terms.kl, rtol=1e-5)
    np.testing.assert_allclose(values["neg_elbo"], terms.reconstruction + terms.kl, rtol=1e-6)
    with pytest.raises(ConfigError, match="filter_size=12 pixels do not fit 8x8 images"):
        zoo.get("msssim_vae", input_shape=(8, 8, 1), filters=(8,), filter_size=12)


def test_an_elbo_on_codes_without_a_density_and_a_wrong_monitor_are_one_line(test_images):
    model = small("ae", latent_dim=3)
    with pytest.raises(ConfigError, match=r"point mass \(PointMass\), without a density"):
        VAE(model.encoder, model.decoder, model.prior_layer, objective=ELBO())
    with pytest.raises(ConfigError, match="ae has no ELBO .* use val_loss"):
        zoo.RunConfig(model="ae", monitor="val_neg_elbo").plan()
    assert zoo.RunConfig(model="ae").resolved().monitor == "val_loss"
    assert zoo.RunConfig(model="cnn_vae").resolved().monitor == "val_neg_elbo"


def test_the_annealed_capacity_objective_holds_the_batch_kl_at_a_capacity_rising_with_steps(
        test_images):
    """Burgess et al.'s gamma |KL - C(t)| by hand, C(t) = c_max min(1, t / threshold), t the
    model's step: read in evaluation, advanced first in a training step."""
    x = test_images[:16]
    model = small("annealed_vae", latent_dim=3, gamma=100.0, c_max=8.0,
                  iteration_threshold=40)
    terms = model.terms(x, 1, SEED)
    batch_kl = float(np.mean(terms.kl))
    for step, capacity in ((0, 0.0), (10, 2.0), (39, 7.8), (40, 8.0), (400, 8.0)):
        model.step.assign(step)
        values = model.objective(model, x, SEED)
        np.testing.assert_allclose(values["capacity_gap"], abs(batch_kl - capacity), rtol=1e-5)
        np.testing.assert_allclose(
            values["loss"], terms.reconstruction + 100.0 * abs(batch_kl - capacity), rtol=1e-5)
        np.testing.assert_allclose(values["neg_elbo"], terms.reconstruction + terms.kl,
                                   rtol=1e-6)
    model.step.assign(9)  # a training step takes the 10th step's capacity: 2 nats
    values = model.objective_values(x, training=True)
    assert int(model.step) == 10
    kl = float(np.mean(values["kl"]))
    np.testing.assert_allclose(values["capacity_gap"], abs(kl - 2.0), rtol=1e-5)


def test_factor_vaes_objective_is_the_discriminators_density_ratio(test_images):
    """FactorTC by hand: TC_i = l_0(z_i) - l_1(z_i) of the discriminator's logits, the loss
    reconstruction + KL + gamma TC, and the discriminator's cross-entropy on the codes
    (class 0) and on the codes with each dimension permuted across the batch (class 1)."""
    model = small("factor_vae", latent_dim=3, gamma=7.0)
    x = test_images[:64]
    values = model.objective(model, x, SEED)
    terms = model.terms(x, 1, SEED)
    z = terms.codes[0].numpy()
    permuted = objectives.permuted_dimensions(
        z, tf.random.experimental.stateless_fold_in(SEED, -2)).numpy()
    for column in range(3):  # each a permutation of its own
        np.testing.assert_array_equal(np.sort(permuted[:, column]), np.sort(z[:, column]))
    orders = [np.argsort(np.argsort(z[:, c]))[np.argsort(permuted[:, c])] for c in range(3)]
    assert not np.array_equal(orders[0], orders[1]) and (permuted != z).mean() > 0.9
    logits = model.discriminator(z).numpy().astype(np.float64)
    logits_permuted = model.discriminator(permuted).numpy().astype(np.float64)
    total_correlation = logits[:, 0] - logits[:, 1]
    cross_entropy = 0.5 * (logsumexp(logits, 1) - logits[:, 0]
                           + logsumexp(logits_permuted, 1) - logits_permuted[:, 1])
    np.testing.assert_allclose(values["total_correlation"], total_correlation, rtol=1e-5,
                               atol=1e-6)
    np.testing.assert_allclose(values["discriminator_loss"], cross_entropy, rtol=1e-5)
    np.testing.assert_allclose(values["loss"], terms.reconstruction + terms.kl
                               + 7.0 * total_correlation, rtol=1e-5)
    np.testing.assert_allclose(values["neg_elbo"], terms.reconstruction + terms.kl)


def test_factor_vaes_step_trains_the_discriminator_with_its_own_optimizer(test_images):
    """One training step: the model's optimizer moves the encoder and decoder by the VAE
    loss's gradient and leaves the discriminator alone; the discriminator's optimizer moves
    it by its cross-entropy's gradient, from the same forward pass (taken by hand on a twin
    of the model: same weights, same noise step)."""
    model, twin = (small("factor_vae", latent_dim=3) for _ in range(2))
    twin.set_weights(model.get_weights())
    twin.reseeded(model.seed)
    model.compile(optimizer=tf_keras.optimizers.legacy.SGD(0.1))
    model.discriminator_optimizer = tf_keras.optimizers.legacy.SGD(0.2)
    x = test_images[:64]
    with tf.GradientTape(persistent=True) as tape:
        values = twin.objective_values(x, training=True)
        loss = tf.reduce_mean(values["loss"])
        discriminator_loss = tf.reduce_mean(values["discriminator_loss"])
    theirs, mine = twin.discriminator.trainable_variables, twin.optimizer_variables
    expected = {variable.ref(): (variable - 0.1 * gradient).numpy() for variable, gradient in
                zip(mine, tape.gradient(loss, mine), strict=True)}
    expected.update({variable.ref(): (variable - 0.2 * gradient).numpy() for variable, gradient
                     in zip(theirs, tape.gradient(discriminator_loss, theirs), strict=True)})
    assert len(expected) == len(model.trainable_variables)
    model.train_on_batch(x, x)
    for variable, counterpart in zip(model.trainable_variables, twin.trainable_variables,
                                     strict=True):
        np.testing.assert_allclose(variable.numpy(), expected[counterpart.ref()], rtol=1e-4,
                                   atol=1e-6, err_msg=variable.name)
    assert (len(model.optimizer.weights), len(model.discriminator_optimizer.weights)) == (
        1, 1)  # SGD: its iteration counters alone; 1 + 2 per variable for the default Adams


def test_a_factor_vae_row_file_leaves_the_discriminator_out(test_images, tmp_path):
    """A leaderboard row's weights file holds the encoder and decoder, not the discriminator
    (5 M weights at the default units: a row file stays under 10 MiB); the reloaded model
    gives the same ELBO, and its discriminator starts afresh."""
    model = small("factor_vae", latent_dim=3)
    model.fit(test_images[:128], epochs=1, batch_size=64, verbose=0)
    path = tmp_path / "row.h5"
    pretrained.save_row(model, path)
    with h5py.File(path) as stored:
        names = []
        stored.visit(names.append)
    assert "encoder" in names and not [name for name in names if "discriminator" in name]
    reloaded = pretrained.load_row(path)
    x = test_images[:64]
    # its discriminator starts afresh: no total correlation estimate from it is reported
    assert set(zoo.evaluate(model, x, verbose=0)["objective_metrics"]) == {
        "total_correlation", "discriminator_loss"}
    assert "objective_metrics" not in zoo.evaluate(reloaded, x, verbose=0)
    np.testing.assert_array_equal(reloaded.objective(reloaded, x, SEED)["neg_elbo"],
                                  model.objective(model, x, SEED)["neg_elbo"])
    for variable, trained in zip(reloaded.discriminator.weights, model.discriminator.weights,
                                 strict=True):
        assert not np.array_equal(variable.numpy(), trained.numpy())
