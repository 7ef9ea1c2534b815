"""The registry: names, descriptions, override validation, user-registered builders."""

import dataclasses
import re
from typing import Literal

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras

import zoo
from conftest import as_batch
from small import ALIASES, SMALL, small
from zoo import catalog
from zoo.errors import OverrideError, UnknownModelError, ZooError
from zoo.models.registry import PositiveInt, builder, builders, register, unregister

tfpl = tfp.layers


def test_list_names_every_builder_with_a_description():
    models = zoo.list()
    assert {"mlp_vae", "cnn_vae", "beta_vae"} <= set(models)
    assert all(description and "\n" not in description for description in models.values())


def test_every_builder_has_a_small_size_for_the_tests_and_it_builds():
    """small.SMALL: the size the per-builder tests build; a new builder needs its row. Built
    means every weight exists (VAE.build traces no call to find them): a first call on real
    images creates none."""
    assert sorted(SMALL) == sorted(zoo.list())
    images = np.zeros((2, 28, 28, 1), np.float32)
    for name, overrides in SMALL.items():
        model = small(name, latent_dim=2)
        assert model.zoo_config["overrides"] == {
            **builder(name).validate(overrides), "latent_dim": 2}
        weights = [weight.name for weight in model.weights]
        assert model.built and weights
        model(as_batch(model, images))
        assert [weight.name for weight in model.weights] == weights, name


@pytest.mark.parametrize("name", ALIASES)
def test_a_builder_that_is_another_with_one_override_builds_that_model(name):
    """small.ALIASES (the per-builder tests of what a model is made of take the other
    builder for these): from one seed, the same layers in the same order, the same weights,
    parts and objective class, the objective differing by the override alone, and the
    same loss at the other builder's value of it."""
    other, override = ALIASES[name]
    tf_keras.utils.set_random_seed(3)
    model = small(name, latent_dim=3, **{override: 2.5})
    tf_keras.utils.set_random_seed(3)
    reference = small(other, latent_dim=3)

    def parts(vae):
        return [[(type(layer), layer.output_shape) for layer in part.layers]
                for part in (vae.encoder, vae.decoder)] + [type(vae.prior_layer)]

    assert parts(model) == parts(reference)
    for mine, theirs in zip(model.weights, reference.weights, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    assert type(model.objective) is type(reference.objective)
    assert model.objective == dataclasses.replace(reference.objective, **{override: 2.5})
    assert getattr(reference.objective, override) != 2.5
    images = (np.random.default_rng(0).random((4, 28, 28, 1)) < 0.5).astype(np.float32)
    again = dataclasses.replace(model.objective, **{override: getattr(reference.objective,
                                                                      override)})
    seed = tf.constant([1, 2], tf.int64)
    np.testing.assert_array_equal(again(model, images, seed)["loss"],
                                  reference.objective(reference, images, seed)["loss"])


def test_unknown_model_names_the_closest_match_and_the_registered_ones():
    with pytest.raises(UnknownModelError) as error:
        zoo.get("cnn_vea")
    message = str(error.value)
    assert "did you mean 'cnn_vae'" in message and "mlp_vae" in message and "\n" not in message


def test_unknown_override_suggests_the_field_and_lists_what_is_accepted():
    with pytest.raises(OverrideError, match="no override 'latnt_dim'; did you mean 'latent_dim'"):
        zoo.get("mlp_vae", latnt_dim=2)
    with pytest.raises(OverrideError, match="hidden_units"):
        zoo.get("mlp_vae", filters=(8,))  # a cnn field, not an mlp one


@pytest.mark.parametrize("name, overrides", [
    ("mlp_vae", {"latent_dim": 2.5}),
    ("mlp_vae", {"latent_dim": "2,3"}),
    ("mlp_vae", {"latent_dim": "two"}),
    ("mlp_vae", {"latent_dim": True}),
    ("mlp_vae", {"latent_dim": 0}),
    ("mlp_vae", {"hidden_units": ()}),
    ("mlp_vae", {"hidden_units": (512, -1)}),
    ("mlp_vae", {"input_shape": (28, 28)}),
    ("mlp_vae", {"learning_rate": 0}),
    ("beta_vae", {"beta": -1.0}),
    ("cnn_vae", {"filters": "32,-64"}),
])
def test_ill_typed_or_out_of_range_overrides_name_the_field(name, overrides):
    field = next(iter(overrides))
    with pytest.raises(OverrideError, match=f"{field}=.* {field} accepts"):
        zoo.get(name, **overrides)


def test_overrides_are_normalised_and_recorded():
    model = zoo.get("mlp_vae", latent_dim=3, hidden_units=[64], learning_rate=1)
    assert model.zoo_config == {"name": "mlp_vae", "overrides": {
        "latent_dim": 3, "hidden_units": (64,), "learning_rate": 1.0},
        "module": "zoo.models.vanilla"}  # imported again on load: a plugin's builder
    assert model.latent_dim == 3
    assert model.optimizer.learning_rate.numpy() == pytest.approx(1.0)


def test_cnn_input_shape_must_survive_its_strides():
    with pytest.raises(OverrideError, match="divisible by 4"):
        zoo.get("cnn_vae", input_shape=(30, 30, 1))
    assert zoo.get("cnn_vae", input_shape=(32, 32, 3), latent_dim=2).image_shape == (32, 32, 3)
    # as the command line writes it, in Python too
    assert zoo.get("cnn_vae", input_shape="32,32,3", latent_dim="2").image_shape == (32, 32, 3)


def test_command_line_values_are_parsed_by_the_field_type():
    fields = builder("beta_vae").fields
    assert fields["filters"].parse("16,32") == (16, 32)
    assert fields["beta"].parse("4") == 4.0
    assert fields["latent_dim"].parse("2") == 2
    with pytest.raises(OverrideError, match="cannot read latent_dim='two'"):
        fields["latent_dim"].parse("two")


def test_users_register_their_own_builder(registered_names):
    registered_names.append("test_tiny_vae")

    @register("test_tiny_vae")
    def tiny(latent_dim: PositiveInt = 2):
        """A user's model."""
        return zoo.get("mlp_vae", latent_dim=latent_dim, hidden_units=(8,))

    assert zoo.list()["test_tiny_vae"] == "A user's model."
    model = zoo.get("test_tiny_vae", latent_dim=3)
    assert model.latent_dim == 3 and model.zoo_config["name"] == "test_tiny_vae"
    with pytest.raises(ValueError, match="already registered"):
        register("test_tiny_vae")(tiny)


def test_a_builder_says_whether_its_model_has_an_elbo_and_is_held_to_it(registered_names):
    """register(..., elbo=False) for an autoencoder's point-mass codes: runs watch val_loss;
    a builder registered otherwise than its model is refused when it builds, in one line."""
    registered_names.extend(["test_no_elbo", "test_says_elbo"])

    @register("test_no_elbo", elbo=False)
    def no_elbo(latent_dim: PositiveInt = 2):
        """An autoencoder."""
        return small("ae", latent_dim=latent_dim)

    @register("test_says_elbo")
    def says_elbo(latent_dim: PositiveInt = 2):
        """An autoencoder registered as if it had an ELBO."""
        return small("ae", latent_dim=latent_dim)

    assert not zoo.get("test_no_elbo").has_elbo
    assert builder("test_no_elbo").monitor == "val_loss"
    assert builder("mlp_vae").monitor == "val_neg_elbo"
    with pytest.raises(TypeError, match="test_says_elbo: its model has no ELBO .* register "
                                        "it with elbo=False"):
        zoo.get("test_says_elbo")
    assert sorted(name for name, entry in builders().items()
                  if not entry.elbo and not name.startswith("test_")) == [
        "aae", "ae", "rae_gp", "rae_l2", "wae_mmd"]


def test_a_builder_without_checkable_annotations_or_defaults_is_refused_at_registration(
        registered_names):
    registered_names.extend(["test_unchecked", "test_no_default", "test_bad_default"])
    with pytest.raises(TypeError, match="parameter 'width' needs an annotation the zoo can "
                                        "check, not 'none': int, float, str, bool"):
        @register("test_unchecked")
        def unchecked(width=3):
            """No annotation."""
    with pytest.raises(TypeError, match="parameter 'width' needs a default"):
        @register("test_no_default")
        def no_default(width: int):
            """No default."""
    with pytest.raises(TypeError, match=r"parameter 'kernel' defaults to 'gauss', which its "
                                        r"annotation refuses \(one of 'imq', 'rbf'\)"):
        @register("test_bad_default")
        def bad_default(kernel: Literal["imq", "rbf"] = "gauss"):
            """A default its own annotation refuses."""


def test_plain_annotations_are_checked_and_parsed_like_the_zoos_types(registered_names):
    registered_names.append("test_plain_vae")

    @register("test_plain_vae")
    def plain(latent_dim: int = 8, lam: float = 10.0, activation: str = "relu",
              kernel: Literal["imq", "rbf"] = "imq", widths: tuple[int, ...] = (32, 16),
              gated: bool = False):
        """Plain annotations."""

    made = builder("test_plain_vae")
    assert [field.describe() for field in made.fields.values()] == [
        "latent_dim (an int, default 8)", "lam (a float, default 10.0)",
        "activation (a string, default 'relu')", "kernel (one of 'imq', 'rbf', default 'imq')",
        "widths (a list of ints, default 32,16)", "gated (true or false, default False)"]
    assert made.validate({"latent_dim": "4", "lam": 3, "kernel": "rbf", "widths": "8,4",
                          "gated": "true", "activation": "tanh"}) == {
        "latent_dim": 4, "lam": 3.0, "kernel": "rbf", "widths": (8, 4), "gated": True,
        "activation": "tanh"}  # as the command line writes them, and ints for a float
    for wrong, message in (({"latent_dim": "x"}, "cannot read latent_dim='x'; latent_dim "
                                                 "accepts an int, written as latent_dim=8"),
                           ({"latent_dim": True}, "latent_dim=True is invalid"),
                           ({"kernel": "gauss"}, "kernel accepts one of 'imq', 'rbf'"),
                           ({"widths": (8.5,)}, "widths accepts a list of ints"),
                           ({"gated": "maybe"}, "gated accepts true or false")):
        with pytest.raises(OverrideError, match=re.escape(message)):
            made.validate(wrong)


def test_an_unregistered_name_is_gone_and_can_be_registered_again(registered_names):
    registered_names.append("test_again_vae")

    def again(latent_dim: PositiveInt = 2):
        """Registered twice."""
        return zoo.get("mlp_vae", latent_dim=latent_dim, hidden_units=(8,))

    register("test_again_vae")(again)
    unregister("test_again_vae")
    assert "test_again_vae" not in zoo.list()
    with pytest.raises(UnknownModelError, match="unknown model 'test_again_vae'"):
        zoo.get("test_again_vae")
    register("test_again_vae")(again)  # no "already registered"
    assert zoo.list()["test_again_vae"] == "Registered twice."
    with pytest.raises(UnknownModelError, match="unknown model 'test_nowhere_vae'"):
        unregister("test_nowhere_vae")


def test_the_catalog_lists_the_registry_and_refuses_names_as_it_does():
    """zoo/catalog.json, which `zoo list` and a mistyped name read without TensorFlow, is the
    registry's (`python -m zoo.catalog` writes it) and says what the registry says."""
    stale = "zoo/catalog.json is stale: run `python -m zoo.catalog`"
    assert catalog.models() == catalog.entries(), stale
    for name, overrides in (("cnn_vea", ()), ("mlp_vae", ("latnt_dim",))):
        with pytest.raises(ZooError) as from_catalog:
            catalog.check(name, overrides)
        with pytest.raises(ZooError) as from_registry:
            zoo.get(name, **dict.fromkeys(overrides, 2))
        assert str(from_catalog.value) == str(from_registry.value)
    for name, weights in (("mlp_vae", "binarized_mnst"), ("hvae", "binarized_mnist")):
        with pytest.raises(ZooError) as from_catalog:
            catalog.check_weights(name, weights)
        with pytest.raises(ZooError) as from_registry:
            zoo.get(name, weights=weights)
        assert str(from_catalog.value) == str(from_registry.value)
