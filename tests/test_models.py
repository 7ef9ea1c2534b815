"""The builders: TFP layers at both ends, and the loss is reconstruction + beta * KL, once."""

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp

import zoo
from zoo.models.layers import MultivariateNormalDiag

tfd, tfpl = tfp.distributions, tfp.layers
BUILDERS = {"mlp_vae": 1.0, "cnn_vae": 1.0, "beta_vae": 4.0}  # name: beta


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
    assert len(model.losses) == 1  # the KL, once (TFP issue 1215 adds it twice)


def briefly_trained(name, load, steps=100):
    """A model trained for ``steps`` batches of real data, so its KL is far from 0."""
    tf.keras.utils.set_random_seed(1)
    model = zoo.get(name, latent_dim=8)
    model.fit(load("binarized_mnist", "train", 64, shuffle=False).take(steps), verbose=0)
    return model


@pytest.mark.parametrize("name, beta", BUILDERS.items())
def test_loss_is_reconstruction_plus_beta_kl_computed_by_hand(name, beta, load, test_images):
    model = briefly_trained(name, load)
    x = test_images
    x4 = np.tile(x, (4, 1, 1, 1))  # 4 posterior samples per image in the model's estimate
    result = model.evaluate(x4, x4, batch_size=len(x), return_dict=True, verbose=0)

    posterior = model.encoder(x)
    kl_by_hand = tf.reduce_mean(tfd.kl_divergence(posterior, model.prior)).numpy()
    z = posterior.sample(16, seed=[1, 2])
    reconstruction_by_hand = -np.mean(
        [model.decoder(z_s).log_prob(x).numpy() for z_s in z])

    assert beta * kl_by_hand > 2  # counted twice, it would move the loss past 1 nat
    assert result["kl"] == pytest.approx(kl_by_hand, rel=1e-4)
    assert result["loss"] == pytest.approx(result["reconstruction"] + beta * result["kl"],
                                           rel=1e-5)
    # Both reconstruction estimates are Monte Carlo (standard error about 0.2 nats here).
    assert result["reconstruction"] == pytest.approx(reconstruction_by_hand, abs=1.0)
    assert result["loss"] == pytest.approx(reconstruction_by_hand + beta * kl_by_hand, abs=1.0)
    model(x)  # an eager call, so that model.losses holds this batch's values
    (added_loss,) = model.losses
    assert added_loss.numpy() == pytest.approx(beta * kl_by_hand, rel=1e-4)


def test_the_kl_weight_is_per_example_whatever_the_batch_size(test_images):
    model = zoo.get("cnn_vae", latent_dim=4)
    per_batch = [model.evaluate(test_images, test_images, batch_size=size, verbose=0,
                                return_dict=True)["kl"] for size in (32, 512)]
    assert per_batch[0] == pytest.approx(per_batch[1], rel=1e-4)


def test_recompiling_with_another_optimizer_keeps_the_zoo_loss_and_metrics(test_images):
    import tf_keras

    model = zoo.get("mlp_vae", latent_dim=2)
    model.compile(optimizer=tf_keras.optimizers.SGD(1e-3))
    history = model.fit(test_images, test_images, batch_size=64, verbose=0)
    assert {"loss", "reconstruction", "kl"} <= set(history.history)
    assert isinstance(model.optimizer, tf_keras.optimizers.SGD)


def test_the_zoo_tril_layer_is_tfps_distribution_to_the_bit():
    from zoo.models.layers import MultivariateNormalTriL

    params = tf.random.stateless_normal([16, MultivariateNormalTriL.params_size(5)], [3, 4]) * 3
    ours = MultivariateNormalTriL.new(params, 5)
    tfps = tfpl.MultivariateNormalTriL.new(params, 5)
    np.testing.assert_array_equal(ours.loc, tfps.loc)
    np.testing.assert_array_equal(ours.scale.to_dense(), tfps.scale.to_dense())
    assert float(tf.reduce_min(tf.linalg.diag_part(ours.scale.to_dense()))) > 0


def test_a_full_covariance_vae_trains_under_xla_like_without(test_images):
    """jit_compile=True fails on TFP's FillScaleTriL gradient; the zoo's layer compiles,
    with a short last batch too, and computes the plain step's loss."""
    x = test_images[:200]  # batches of 64: the last one holds 8
    first_losses, histories, initial = [], [], None
    for jit_compile in (False, True):
        model = zoo.get("cnn_vae", latent_dim=4)
        model.sampler.seed = 2  # the same posterior noise
        if initial is None:
            initial = model.get_weights()
        model.set_weights(initial)
        model.compile(optimizer=model.optimizer, jit_compile=jit_compile)
        first_losses.append(model.train_on_batch(x[:64], x[:64]))  # before any update
        history = model.fit(x, x, batch_size=64, epochs=2, shuffle=False, verbose=0)
        histories.append(history.history["loss"])
    assert first_losses[1] == pytest.approx(first_losses[0], rel=1e-4)  # XLA: other sums
    assert histories[1][1] < histories[1][0]  # it learns under XLA
    assert histories[1] == pytest.approx(histories[0], rel=2e-2)  # on a nearby path


def test_the_training_loss_is_tfps_bernoulli_log_prob(test_images):
    """The loss takes a cheaper route to -log p(x|z) for the Bernoulli decoders: same value."""
    from zoo.models.layers import negative_log_likelihood

    x = test_images[:16]
    logits = tf.random.stateless_normal([16, 784], [7, 8]) * 4
    rv_x = tfpl.IndependentBernoulli((28, 28, 1))(logits)
    np.testing.assert_allclose(negative_log_likelihood(x, rv_x), -rv_x.log_prob(x), rtol=1e-6)

    @tf.function
    def loss(logits):
        return negative_log_likelihood(x, tfpl.IndependentBernoulli((28, 28, 1))(logits))

    operations = {op.type for op in loss.get_concrete_function(logits).graph.get_operations()}
    assert "MulNoNan" not in operations  # TFP's log_prob (two masked softplus) did not run
    normal = tfd.Independent(tfd.Normal(tf.zeros([16, 28, 28, 1]), 1.0), 3)  # any other
    np.testing.assert_allclose(negative_log_likelihood(x, normal), -normal.log_prob(x))
