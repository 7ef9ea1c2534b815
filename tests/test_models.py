"""The builders: TFP layers at both ends, and the loss is reconstruction + beta * KL, once."""

import collections
import warnings

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

import zoo
from zoo import checks
from zoo.errors import OverrideError
from zoo.models import networks
from zoo.models.posteriors import MultivariateNormalDiag
from zoo.models.priors import StandardNormal
from zoo.models.vae import VAE
from small import small

tfd, tfpl = tfp.distributions, tfp.layers
BUILDERS = {"mlp_vae": 1.0, "cnn_vae": 1.0, "beta_vae": 4.0}  # name: beta
HALF_WIDTH = {"cnn_vae": {"filters": (16, 32)}, "beta_vae": {"filters": (16, 32)}}


@pytest.mark.parametrize("name, posterior_layer", [
    ("mlp_vae", MultivariateNormalDiag),
    ("cnn_vae", tfpl.MultivariateNormalTriL),
    ("beta_vae", tfpl.MultivariateNormalTriL),
])
def test_encoder_and_decoder_end_in_tfp_distribution_layers(name, posterior_layer, test_images):
    model = zoo.get(name, latent_dim=2)
    assert isinstance(model.encoder.layers[-1], posterior_layer)
    assert isinstance(model.decoder.layers[-1], tfpl.IndependentBernoulli)
    x = test_images[:8]
    posterior, rv_x = model.encoder(x), model(x)
    assert posterior.event_shape == [2] and posterior.batch_shape == [8]
    assert rv_x.log_prob(x).shape == (8,)
    assert isinstance(model.prior, tfd.MultivariateNormalDiag)
    assert not model.losses  # the KL is the objective's, not an added layer loss


def briefly_trained(name, load, steps=50):
    """A model trained for ``steps`` batches of real data, so its KL is far from 0."""
    tf_keras.utils.set_random_seed(1)
    model = zoo.get(name, latent_dim=8, **HALF_WIDTH.get(name, {}))
    model.fit(load("binarized_mnist", "train", 64, shuffle=False).take(steps), verbose=0)
    return model


@pytest.mark.parametrize("name, beta", BUILDERS.items())
def test_loss_is_reconstruction_plus_beta_kl_computed_by_hand(name, beta, load, test_images):
    model = briefly_trained(name, load)
    x = test_images[:128]
    seed = tf.constant([3, 4], tf.int64)
    values = model.objective(model, x, seed)  # the per-example objective

    posterior = model.encoder(x)  # by hand: z = loc + scale @ eps, TFP's own log_prob and KL
    eps = tf.random.stateless_normal([1, 128, 8], seed)[0]
    z = posterior.loc + posterior.scale.matvec(eps)
    reconstruction = -model.decoder(z).log_prob(x).numpy()
    kl = tfd.kl_divergence(posterior, model.prior).numpy()
    assert np.mean(beta * kl) > 2  # counted twice, it would move the loss past 1 nat
    np.testing.assert_allclose(values["reconstruction"], reconstruction, rtol=1e-5)
    np.testing.assert_allclose(values["kl"], kl, rtol=1e-5)
    np.testing.assert_allclose(values["loss"], reconstruction + beta * kl, rtol=1e-5)
    np.testing.assert_allclose(values["neg_elbo"], reconstruction + kl, rtol=1e-5)

    result = model.evaluate(x, batch_size=64, return_dict=True, verbose=0)  # compiled step
    assert result["kl"] == pytest.approx(np.mean(kl), rel=1e-4)
    assert result["loss"] == pytest.approx(result["reconstruction"] + beta * result["kl"],
                                           rel=1e-5)
    # Another draw of z: Monte Carlo (standard error about 1 nat here).
    assert result["reconstruction"] == pytest.approx(np.mean(reconstruction), abs=5)


def test_residual_blocks_add_a_shortcut_convolution_per_stage_to_both_stacks(test_images):
    plain = zoo.get("cnn_vae", latent_dim=4)
    deep = zoo.get("cnn_vae", latent_dim=4, blocks=2)
    per_block = {f: 3 * 3 * f * f + f for f in (32, 64)}  # a 3x3 kernel and biases
    assert deep.count_params() - plain.count_params() == 2 * 2 * sum(per_block.values())
    blocks = [layer for net in (deep.encoder, deep.decoder) for layer in net.layers
              if isinstance(layer, networks.ResidualConv2D)]
    assert [block.filters for block in blocks] == [32, 32, 64, 64, 64, 64, 32, 32]
    feature_map = tf.random.stateless_normal((2, 14, 14, 64), seed=(0, 1))
    kernel, bias = blocks[4].conv.get_weights()
    np.testing.assert_allclose(blocks[4](feature_map), feature_map + tf.nn.relu(
        tf.nn.conv2d(feature_map, kernel, 1, "SAME") + bias), atol=1e-5)
    assert np.isfinite(deep.evaluate(test_images[:64], verbose=0, return_dict=True)["loss"])


def test_an_mlp_builder_takes_the_activation_of_its_hidden_layers(tmp_path):
    gated = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16, 8), activation="gated")
    units = [layer.units for net in (gated.encoder, gated.decoder) for layer in net.layers
             if isinstance(layer, networks.GatedDense)]
    assert units == [16, 8, 8, 16]
    plain = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16, 8))
    gates = (784 + 1) * 16 + (16 + 1) * 8 + (2 + 1) * 8 + (8 + 1) * 16  # a sigmoid Dense each
    assert gated.count_params() - plain.count_params() == gates
    activations = [zoo.get("iwae", latent_dim=2, hidden_units=(16,), **overrides)
                   .encoder.layers[1].get_config()["activation"]
                   for overrides in ({}, {"activation": "relu"})]
    assert activations == ["tanh", "relu"]  # iwae's default is the paper's
    for name in ("iaf_vae", "nvp_vae", "linnf_vae"):  # mlp_vae's networks around a flow
        flow = zoo.get(name, latent_dim=2, hidden_units=(16, 8), activation="gated")
        assert [layer.units for net in (flow.encoder, flow.decoder) for layer in net.layers
                if isinstance(layer, networks.GatedDense)] == [16, 8, 8, 16], name
    zoo.save(gated, tmp_path)
    assert zoo.load(tmp_path).zoo_config["overrides"]["activation"] == "gated"
    with pytest.raises(OverrideError, match="activation=.swish. is invalid; activation "
                                            "accepts one of 'relu', 'tanh', 'gated'"):
        zoo.get("mlp_vae", activation="swish")


def test_the_conv_vamp_prior_gates_cnn_vae_s_stacks_and_maps_image_pseudo_inputs(
        test_images):
    """conv_vamp_vae: cnn_vae's layer order with each strided (transposed) convolution and
    the decoder's dense layer gated, a gated convolution being conv(x) * sigmoid(conv'(x))
    by hand; ``activation="relu"`` gives cnn_vae's plain layers; the VampPrior's
    components are the encoder's posteriors at 28x28 pseudo-images."""
    model = small("conv_vamp_vae", latent_dim=3)
    kinds = [[type(layer).__name__ for layer in net.layers]
             for net in (model.encoder, model.decoder)]
    assert kinds == [["GatedConv2D", "GatedConv2D", "Flatten", "Dense", "MultivariateNormalDiag"],
                     ["GatedDense", "Reshape", "GatedConv2D", "GatedConv2D", "Conv2D", "Flatten",
                      "IndependentBernoulli"]]
    gated = model.encoder.layers[1]
    assert (gated.filters, gated.strides, gated.transpose) == (16, 2, False)
    assert model.decoder.layers[2].transpose and model.decoder.layers[2].strides == 2
    feature_map = model.encoder.layers[0](test_images[:2])                  # (2, 14, 14, 8)
    (kernel, bias), (gate_kernel, gate_bias) = (gated.linear.get_weights(),
                                                gated.gate.get_weights())
    np.testing.assert_allclose(gated(feature_map), (
        tf.nn.conv2d(feature_map, kernel, 2, "SAME") + bias) * tf.sigmoid(
        tf.nn.conv2d(feature_map, gate_kernel, 2, "SAME") + gate_bias), atol=1e-5)
    plain = small("conv_vamp_vae", latent_dim=3, activation="relu")
    assert [type(layer) for layer in plain.encoder.layers[:2]] == [tf_keras.layers.Conv2D] * 2
    assert [type(layer) for layer in plain.decoder.layers[:3]] == [
        tf_keras.layers.Dense, tf_keras.layers.Reshape, tf_keras.layers.Conv2DTranspose]
    pseudo_inputs = model.prior_layer.pseudo_inputs
    assert pseudo_inputs.shape == (10, 28, 28, 1)
    np.testing.assert_allclose(model.prior.components_distribution.mean(),
                               model.encoder(tf.clip_by_value(pseudo_inputs, 0, 1)).mean(),
                               rtol=1e-6)


def test_the_conv_hierarchical_vae_reads_and_makes_images_with_gated_convolutions():
    """conv_hvae_vamp: hvae_vamp's layers of codes, with x read by the gated conv stack in
    q(z2|x) and q(z1|x, z2) and made by gated transposed convolutions in p(x|z1, z2);
    hvae_vamp's own networks unchanged (its pretrained row re-scores: test_pretrained)."""
    model = small("conv_hvae_vamp", latent_dim=3)
    reference = small("hvae_vamp", latent_dim=3)

    def kinds(part):
        return [type(layer).__name__ for layer in part.layers if type(layer).__name__ not in (
            "InputLayer", "Flatten", "Concatenate", "Reshape")]

    assert kinds(model.encoder) == ["GatedConv2D", "GatedConv2D", "Dense",
                                    "MultivariateNormalDiag"]
    assert kinds(model.lower_encoder) == ["GatedConv2D", "GatedConv2D", "GatedDense",
                                          "GatedDense", "Dense", "MultivariateNormalDiag"]
    assert kinds(model.conditional_prior) == kinds(reference.conditional_prior)
    assert kinds(model.likelihood) == ["GatedDense", "GatedDense", "GatedDense", "GatedDense",
                                       "GatedConv2D", "GatedConv2D", "Conv2D",
                                       "IndependentBernoulli"]
    assert [layer.transpose for layer in model.likelihood.layers
            if isinstance(layer, networks.GatedConv2D)] == [True, True]
    assert "GatedConv2D" not in {name for part in (reference.encoder, reference.lower_encoder,
                                                   reference.likelihood) for name in kinds(part)}
    assert model.prior_layer.pseudo_inputs.shape == (10, 28, 28, 1)


def test_the_kl_weight_is_per_example_whatever_the_batch_size(test_images):
    model = zoo.get("cnn_vae", latent_dim=4)
    per_batch = [model.evaluate(test_images, batch_size=size, verbose=0,
                                return_dict=True)["kl"] for size in (32, 512)]
    assert per_batch[0] == pytest.approx(per_batch[1], rel=1e-4)


def test_a_gradient_tape_loop_of_your_own_draws_new_noise_every_step(test_images):
    model = zoo.get("mlp_vae", latent_dim=4, hidden_units=(32,))
    optimizer = tf_keras.optimizers.SGD(0.0)  # weights stay: only the noise can change
    before = [w.numpy() for w in model.trainable_variables]
    x = test_images[:64]
    losses = []
    for _ in range(3):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model.objective_values(x, training=True)["loss"])
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        losses.append(float(loss))
    assert int(optimizer.iterations) == 3  # the steps were applied, at learning rate 0
    for old, new in zip(before, model.trainable_variables, strict=True):
        np.testing.assert_array_equal(new.numpy(), old)
    assert int(model.step) == 3
    assert len(set(losses)) == 3  # the same eps every step would repeat the loss
    rv_x = model(x, training=True)  # a training call advances the step too
    assert int(model.step) == 4 and rv_x.log_prob(x).shape == (64,)


def test_validation_batches_each_get_their_own_noise(test_images):
    """Two batches holding the same images: with one draw per evaluation they would score
    the same; each batch gets its own noise, so they do not."""
    model = zoo.get("mlp_vae", latent_dim=4, hidden_units=(32,))
    x = np.concatenate([test_images[:64]] * 2)
    per_batch = [model.test_on_batch(x[:64], return_dict=True)["loss"]]
    result = model.evaluate(x, batch_size=64, return_dict=True, verbose=0)
    again = model.evaluate(x, batch_size=64, return_dict=True, verbose=0)
    assert result == again  # seeded: the same evaluation, the same numbers
    assert result["loss"] != pytest.approx(per_batch[0], rel=1e-7)  # batch 2 drew anew


def test_a_learned_prior_trains_and_its_kl_is_monte_carlo(test_images):
    from zoo.models import networks, priors
    from zoo.models.vae import VAE

    encoder, decoder = networks.mlp((28, 28, 1), (32,), 2)  # mlp_vae's networks
    model = VAE(encoder, decoder, priors.MixtureOfGaussians(2, components=3))
    model.compile(learning_rate=1e-2)
    means = model.prior_layer.means.numpy()
    x = test_images[:128]
    terms = model.terms(x, 50, tf.constant([1, 2], tf.int64))
    np.testing.assert_allclose(terms.kl, np.mean(terms.log_posterior - terms.log_prior, 0),
                               rtol=1e-6)
    model.fit(x, batch_size=32, epochs=2, verbose=0)
    assert np.abs(model.prior_layer.means.numpy() - means).max() > 1e-3
    np.testing.assert_array_equal(model.prior.components_distribution.loc,
                                  model.prior_layer.means)  # the trained prior, not a copy


@pytest.mark.parametrize("name", ["vamp_vae", "mog_vae"])
def test_a_mixture_prior_s_fast_log_density_and_gradients_are_tfp_s(name, test_images):
    """The learned priors' log p(z) by matrix products (DiagonalGaussianMixture) equals
    TFP's MixtureSameFamily on the same components, value and gradient, for codes drawn
    from the prior itself and from the posteriors of real images."""
    model = zoo.get(name, latent_dim=8, components=50)
    posterior_codes = model.encoder(test_images[:64]).sample(3, seed=1)   # (3, 64, 8)
    with tf.GradientTape(persistent=True) as tape:
        fast = model.prior
        slow = tfd.MixtureSameFamily(fast.mixture_distribution, fast.components_distribution)
        codes = tf.concat([posterior_codes, fast.sample([1, 64], seed=2)], axis=0)
        tape.watch(codes)
        fast_log_density, slow_log_density = fast.log_prob(codes), slow.log_prob(codes)
    assert type(fast).__name__ == "DiagonalGaussianMixture" and fast_log_density.shape == (4, 64)
    np.testing.assert_allclose(fast_log_density, slow_log_density, rtol=1e-5, atol=1e-4)
    for variables in ([codes], model.prior_layer.trainable_variables):
        for fast_gradient, slow_gradient in zip(tape.gradient(fast_log_density, variables),
                                                tape.gradient(slow_log_density, variables),
                                                strict=True):
            np.testing.assert_allclose(fast_gradient, slow_gradient, rtol=1e-4, atol=1e-4)


def test_recompiling_with_another_optimizer_keeps_the_zoo_loss_and_metrics(test_images):
    import tf_keras

    model = zoo.get("mlp_vae", latent_dim=2)
    model.compile(optimizer=tf_keras.optimizers.SGD(1e-3))
    history = model.fit(test_images, batch_size=64, verbose=0)  # no targets: x is y
    assert {"loss", "neg_elbo", "reconstruction", "kl"} <= set(history.history)
    assert isinstance(model.optimizer, tf_keras.optimizers.SGD)


def test_several_steps_per_execution_trace_each_step_once_and_train_as_one_step_does(
        test_images):
    """The default 16 steps per execution and 1: the same history and weights, bit for bit,
    and each of the train and test steps traced once (Keras's own loop traced them twice).
    Epochs of 20 steps: one execution of 16, then one of the 4 left. The ``*_on_batch``
    methods run one step, not 16."""
    results = {}
    for steps in (16, 1):
        tf_keras.utils.set_random_seed(0)
        model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
        assert model.steps_per_execution.numpy() == 16  # the builders' default
        model.compile(steps_per_execution=steps)
        initial = model.get_weights()
        traces = collections.Counter()
        for kind in ("train_step", "test_step"):
            def counted(data, step=getattr(model, kind), kind=kind):
                traces[kind] += 1
                return step(data)
            setattr(model, kind, counted)
        history = model.fit(test_images[:320], batch_size=16, epochs=2, verbose=0,
                            validation_data=test_images[320:448])  # 20 steps, 8 to validate
        assert traces == {"train_step": 1, "test_step": 1}, steps
        assert int(model.optimizer.iterations) == 40
        results[steps] = history.history, model.get_weights(), model
    assert results[16][0] == results[1][0]
    assert max(np.abs(a - b).max()  # trained
               for a, b in zip(initial, results[1][1], strict=True)) > 1e-3
    for a, b in zip(results[16][1], results[1][1], strict=True):
        np.testing.assert_array_equal(a, b)
    sixteen, batch = results[16][2], test_images[:64]
    assert np.isfinite(sixteen.train_on_batch(batch, batch)).all()
    assert int(sixteen.optimizer.iterations) == 41
    assert np.isfinite(sixteen.test_on_batch(batch, batch)).all()
    assert sixteen.predict_on_batch(batch).shape == batch.shape
    assert sixteen.steps_per_execution.numpy() == 16


def test_the_zoo_tril_layer_is_tfps_distribution_to_the_bit():
    from zoo.models.posteriors import MultivariateNormalTriL

    params = tf.random.stateless_normal([16, MultivariateNormalTriL.params_size(5)], [3, 4]) * 3
    ours = MultivariateNormalTriL.new(params, 5)
    tfps = tfpl.MultivariateNormalTriL.new(params, 5)
    np.testing.assert_array_equal(ours.loc, tfps.loc)
    np.testing.assert_array_equal(ours.scale.to_dense(), tfps.scale.to_dense())
    assert float(tf.reduce_min(tf.linalg.diag_part(ours.scale.to_dense()))) > 0


def test_the_zoo_gaussians_are_tfps_to_float_rounding_and_their_kl_is_closed_form():
    """DiagonalNormal and TriangularNormal (gaussians.py) against TFP's
    MultivariateNormalDiag/TriL on the same parameters: log-densities of codes with a
    sample axis, also through a flow over each, the moments they compute, entropies and
    the KLs to a diagonal Gaussian, values and gradients; the draws TFP makes from the
    same seed (sampling is TFP's); the log-density and KL traced, far fewer ops."""
    from zoo.models.gaussians import DiagonalNormal, TriangularNormal

    rng = np.random.default_rng(5)
    loc = tf.constant(rng.normal(size=(6, 4)), tf.float32)
    scale = tf.constant(np.exp(rng.normal(size=(6, 4))), tf.float32)
    tril = np.tril(rng.normal(size=(6, 4, 4)))
    tril[:, range(4), range(4)] = np.abs(tril[:, range(4), range(4)]) + 0.3
    tril = tf.constant(tril, tf.float32)
    codes = tf.constant(rng.normal(size=(3, 6, 4)) * 2, tf.float32)
    prior_loc, prior_scale = tf.constant([0.5, 0, -1, 2.0]), tf.constant([1, 2, 0.5, 3.0])
    flow = tfp.bijectors.Chain([tfp.bijectors.Shift(0.5), tfp.bijectors.Scale([1.5, 2, 1, 3])])
    pairs = [(DiagonalNormal, tfd.MultivariateNormalDiag, scale),
             (TriangularNormal, tfd.MultivariateNormalTriL, tril)]
    for ours_type, tfps_type, scale_parameter in pairs:
        with tf.GradientTape(persistent=True) as tape:
            tape.watch([loc, scale_parameter, codes])
            ours, tfps = ours_type(loc, scale_parameter), tfps_type(loc, scale_parameter)
            assert isinstance(ours, tfps_type)
            values = {"log_prob": (ours.log_prob(codes), tfps.log_prob(codes)),
                      "log_prob_one": (ours.log_prob(codes[0]), tfps.log_prob(codes[0])),
                      "flow": (tfd.TransformedDistribution(ours, flow).log_prob(codes),
                               tfd.TransformedDistribution(tfps, flow).log_prob(codes)),
                      "entropy": (ours.entropy(), tfps.entropy()),
                      "kl": (tfd.kl_divergence(ours, DiagonalNormal(prior_loc, prior_scale)),
                             tfd.kl_divergence(tfps, tfd.MultivariateNormalDiag(
                                 prior_loc, prior_scale)))}
        for name, (mine, theirs) in values.items():
            np.testing.assert_allclose(mine, theirs, rtol=1e-5, atol=1e-5, err_msg=name)
            for a, b in zip(tape.gradient(mine, [loc, scale_parameter, codes]),
                            tape.gradient(theirs, [loc, scale_parameter, codes]),
                            strict=True):
                if b is not None:
                    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5, err_msg=name)
        for moment in ("mean", "stddev", "variance")[:3 if ours_type is DiagonalNormal else 1]:
            np.testing.assert_allclose(getattr(ours, moment)(), getattr(tfps, moment)(),
                                       rtol=1e-6, err_msg=moment)
        np.testing.assert_array_equal(ours.sample(2, seed=(1, 2)), tfps.sample(2, seed=(1, 2)))
        # the closed forms trace to far fewer ops than TFP's bijectors and linear operators
        for prior_type, distribution_type in ((DiagonalNormal, ours_type),
                                              (tfd.MultivariateNormalDiag, tfps_type)):
            traced = tf.function(lambda: (
                distribution_type(loc, scale_parameter).log_prob(codes),
                tfd.kl_divergence(distribution_type(loc, scale_parameter),
                                  prior_type(prior_loc, prior_scale))))
            values[distribution_type] = len(
                traced.get_concrete_function().graph.get_operations())
        assert values[ours_type] < 0.75 * values[tfps_type], values
    # by hand, one coordinate: KL(N(1, 2^2) || N(0, 1)) = (4 + 1 - 1) / 2 - log 2
    one = tfd.kl_divergence(DiagonalNormal([1.0], [2.0]), DiagonalNormal([0.0], [1.0]))
    assert float(one) == pytest.approx(2 - np.log(2), rel=1e-6)


def test_a_full_covariance_vae_trains_under_xla_like_without(test_images):
    """jit_compile=True fails on TFP's FillScaleTriL gradient; the zoo's layer compiles,
    with a short last batch too, and computes the plain step's loss up to its noise: TF's
    stateless random ops draw other numbers under XLA (same seed), so the codes differ."""
    x = test_images[:200]  # batches of 64: the last one holds 8
    first_losses, histories, initial = [], [], None
    for jit_compile in (False, True):
        model = zoo.get("cnn_vae", latent_dim=4, **HALF_WIDTH["cnn_vae"])
        model.seed = 2  # the same seed of the posterior noise
        if initial is None:
            initial = model.get_weights()
        model.set_weights(initial)
        model.compile(optimizer=model.optimizer, jit_compile=jit_compile)
        first_losses.append(model.train_on_batch(x[:64], x[:64]))  # before any update
        history = model.fit(x, x, batch_size=64, epochs=2, shuffle=False, verbose=0)
        histories.append(history.history["loss"])
    assert first_losses[1] == pytest.approx(first_losses[0], rel=1e-3)  # XLA: other eps
    assert histories[1][1] < histories[1][0]  # it learns under XLA
    assert histories[1] == pytest.approx(histories[0], rel=2e-2)  # on a nearby path


def test_the_likelihood_is_tfps_bernoulli_log_prob_broadcast_over_samples(test_images):
    """The objectives take a cheaper route to log p(x|z) for the Bernoulli head: the same
    value, x broadcast over the samples instead of tiled."""
    from zoo.models.likelihoods import log_likelihood

    x = test_images[:16]
    logits = tf.random.stateless_normal([3 * 16, 784], [7, 8]) * 4   # 3 samples of 16
    rv_x = tfpl.IndependentBernoulli((28, 28, 1))(logits)
    expected = rv_x.log_prob(np.tile(x, (3, 1, 1, 1))).numpy().reshape(3, 16)
    np.testing.assert_allclose(log_likelihood(rv_x, x, 3), expected, rtol=1e-6)

    @tf.function
    def traced(logits):
        return log_likelihood(tfpl.IndependentBernoulli((28, 28, 1))(logits), x, 3)

    operations = {op.type for op in traced.get_concrete_function(logits).graph.get_operations()}
    assert "MulNoNan" not in operations and "Tile" not in operations  # TFP's path: MulNoNan
    normal = tfd.Independent(tfd.Normal(tf.zeros([32, 28, 28, 1]), 1.0), 3)  # any other
    np.testing.assert_allclose(log_likelihood(normal, x, 2),
                               normal.log_prob(np.tile(x, (2, 1, 1, 1))).numpy().reshape(2, 16))


def test_a_weights_file_that_does_not_fit_is_one_line_naming_the_variable(tmp_path):
    from zoo import weight_files
    from zoo.errors import WeightsError

    small = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
    weight_files.save_weights(small, tmp_path / "small.h5")
    other = zoo.get("mlp_vae", latent_dim=2, hidden_units=(32,))
    before = [w.copy() for w in other.get_weights()]
    with pytest.raises(WeightsError, match=r"small.h5 does not fit the model: its "
                       r"encoder/layer_with_weights-0/kernel has shape \(784, 16\), the "
                       r"model's \(784, 32\)"):
        weight_files.load_weights(other, tmp_path / "small.h5")
    for kept, now in zip(before, other.get_weights(), strict=True):  # all or nothing
        np.testing.assert_array_equal(kept, now)
    import h5py

    with h5py.File(tmp_path / "small.h5", "r+") as weights:
        weights.copy("decoder/layer_with_weights-1", "decoder/layer_with_weights-9")
        del weights["decoder/layer_with_weights-1/bias"]
    with pytest.raises(WeightsError, match="it has no decoder/layer_with_weights-1/bias;"):
        weight_files.load_weights(small, tmp_path / "small.h5")
    with pytest.raises(WeightsError, match="it has no decoder/layer_with_weights-1/bias;"):
        weight_files.stored_values(small, tmp_path / "small.h5")  # early stopping's reader
    saved = small.get_weights()  # get_weights's order, read back from the file
    weight_files.save_weights(small, tmp_path / "saved.h5")
    small.set_weights([value + 1 for value in saved])
    stored = weight_files.stored_values(small, tmp_path / "saved.h5")
    assert len(stored) == len(saved)
    for value, kept, now in zip(stored, saved, small.get_weights(), strict=True):
        np.testing.assert_array_equal(value, kept)
        np.testing.assert_array_equal(now, kept + 1)  # the model left as it is
    small.set_weights(saved)
    with h5py.File(tmp_path / "small.h5", "r+") as weights:
        weights.copy("decoder/layer_with_weights-9/bias", "decoder/layer_with_weights-1/bias")
    with pytest.raises(WeightsError, match="it holds decoder/layer_with_weights-9/bias, which "
                                           "the model lacks"):
        weight_files.load_weights(small, tmp_path / "small.h5")
    with h5py.File(tmp_path / "small.h5", "r+") as weights:
        del weights["decoder/layer_with_weights-9"]
    twin = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
    weight_files.load_weights(twin, tmp_path / "small.h5")  # another process's layer names: by path
    for a, b in zip(small.get_weights(), twin.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_grey_images_under_a_bernoulli_decoder_warn_once_and_binary_ones_do_not(test_images):
    model = zoo.get("mlp_vae", latent_dim=2, hidden_units=(16,))
    grey = np.random.default_rng(0).random((64, 28, 28, 1), np.float32)
    checks.reset_warnings()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(test_images[:64], verbose=0)  # binary: no warning
        assert not caught
        model.fit(tf.data.Dataset.from_tensor_slices(grey).batch(32), verbose=0)
        assert len(caught) == 1  # found in the pipeline, without reading ahead
        model.fit(grey, verbose=0)  # once per process
    assert [str(w.message).split(",")[0] for w in caught] == [
        "training data has grey values strictly between 0 and 1"]
    assert "Binarize the images" in str(caught[0].message)


def test_a_vae_of_ones_own_parts_with_tfps_own_bernoulli_layer_trains(test_images):
    encoder, _ = networks.mlp((28, 28, 1), (16,), 2)
    decoder = tf_keras.Sequential([tf_keras.layers.InputLayer((2,)),
                                   tf_keras.layers.Dense(784),
                                   tfpl.IndependentBernoulli((28, 28, 1))])
    model = VAE(encoder, decoder, StandardNormal(2))
    model.compile()
    assert model.likelihood_head is None and model.data_kind == "binary"
    history = model.fit(test_images[:128], batch_size=64, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


@pytest.mark.parametrize("name", ["mlp_vae", "hvae"])
def test_model_of_x_repeats_its_draw_and_a_seed_draws_another_of_its_own(name, test_images):
    """As the quickstart says: model(x) gives the same code on every call (until it trains
    on); model(x, seed=s) a code of seed s, the same on every call."""
    model = small(name, latent_dim=2)
    x = test_images[:8]
    assert_same = np.testing.assert_array_equal
    assert_same(model(x).mean(), model(x).mean())
    by_seed = [model(x, seed=seed).mean().numpy() for seed in (1, 2)]
    assert_same(model(x, seed=1).mean(), by_seed[0])
    assert np.abs(by_seed[0] - by_seed[1]).mean() > 1e-3
    assert np.abs(by_seed[0] - model(x).mean().numpy()).mean() > 1e-3
