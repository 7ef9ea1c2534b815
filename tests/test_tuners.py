"""keras-tuner's own tuners with zoo models (``zoo.tuners``), and ``zoo.tune`` on the user's
own data: real searches on small slices of binarized_mnist."""

import keras_tuner
import numpy as np
import pytest
import tf_keras

import zoo
from zoo import tuners


def build(hp):
    """A user's build function, as in keras-tuner's docs."""
    return zoo.get("mlp_vae", latent_dim=hp.Int("latent_dim", 2, 8), hidden_units=(32,))


@pytest.fixture(scope="module")
def slices(load):
    return load("binarized_mnist", "train", 128).take(12), load(
        "binarized_mnist", "validation", 128).take(4)


@pytest.mark.parametrize("tuner_class, objective, budget", [
    (tuners.RandomSearch, "val_neg_elbo", {"max_trials": 2}),
    (tuners.BayesianOptimization, "val_loss", {"max_trials": 2}),
    (tuners.GridSearch, keras_tuner.Objective("val_neg_elbo", "min"), {"max_trials": 2}),
    (tuners.Hyperband, "val_neg_elbo", {"max_epochs": 2, "factor": 2}),  # 5 trials, 7 epochs
])
def test_stock_tuners_search_zoo_models_and_return_the_best_trained_one(
        tuner_class, objective, budget, slices, tmp_path, capsys):
    train, validation = slices
    tuner = tuner_class(build, objective=objective, directory=tmp_path, project_name="p",
                        seed=1, **budget)
    assert isinstance(tuner, getattr(keras_tuner, tuner_class.__name__))
    tuner.search(train, validation_data=validation, epochs=1, verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert trials and all(t.status == "COMPLETED" for t in trials), [t.message for t in trials]

    tuner.results_summary(1)
    assert "Score:" in capsys.readouterr().out
    best_hp = tuner.get_best_hyperparameters(1)[0]
    (model,) = tuner.get_best_models(1)
    assert isinstance(model, tf_keras.Model)
    assert model.latent_dim == best_hp.get("latent_dim")
    # The best epoch's weights and noise step: Keras's validation of them gives the trial's
    # score again.
    best_trial = tuner.oracle.get_best_trials(1)[0]
    name = tuner.oracle.objective.name
    again = model.evaluate(validation, verbose=0, return_dict=True)[name.removeprefix("val_")]
    assert again == pytest.approx(best_trial.score, rel=1e-5)
    if tuner_class is tuners.Hyperband:  # some trial carried on an earlier one's weights
        assert any(t.hyperparameters.values.get("tuner/initial_epoch", 0) > 0 for t in trials)


def test_a_hypermodel_tuning_fit_arguments_on_arrays_with_callbacks(test_images, tmp_path):
    class Searched(keras_tuner.HyperModel):
        def build(self, hp):
            return build(hp)

        def fit(self, hp, model, *args, **kwargs):
            return model.fit(*args, batch_size=hp.Choice("batch_size", [32, 64]), **kwargs)

    epochs_seen = []
    counter = tf_keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: epochs_seen.append(logs["val_neg_elbo"]))
    tuner = tuners.RandomSearch(Searched(), "val_neg_elbo", max_trials=2, seed=2,
                                executions_per_trial=2, directory=tmp_path, project_name="p")
    tuner.search(test_images[:256], validation_data=test_images[256:384], epochs=2,
                 callbacks=[counter], verbose=0)
    assert len(epochs_seen) == 2 * 2 * 2  # trials x executions x epochs
    assert {t.status for t in tuner.oracle.trials.values()} == {"COMPLETED"}
    assert {"latent_dim", "batch_size"} == set(tuner.get_best_hyperparameters()[0].values)


def test_tuner_mistakes_are_one_line_errors(slices, tmp_path):
    train, validation = slices
    tuner = tuners.RandomSearch(lambda hp: "not a model", "val_neg_elbo", max_trials=1,
                                directory=tmp_path, project_name="a")
    with pytest.raises(keras_tuner.errors.FatalTypeError, match="returned a str; zoo.tuners "
                                                                "are for tf_keras models"):
        tuner.search(train, validation_data=validation, epochs=1, verbose=0)
    tuner = tuners.RandomSearch(build, "val_neg_elbo", max_trials=1, directory=tmp_path,
                                project_name="b")
    with pytest.raises(keras_tuner.errors.FatalValueError,
                       match="val_neg_elbo is not among the logged metrics .*validation_data"):
        tuner.search(train, epochs=1, verbose=0)


def test_zoo_tune_searches_the_users_data_and_only_the_named_ranges(test_images, tmp_path):
    images = test_images.astype(np.float32)
    result = zoo.tune("mlp_vae", train=images[:256], validation=images[256:384], max_trials=2,
                      epochs=1, ranges=["latent_dim=2:4"], directory=tmp_path, verbose=0)
    assert list(result.space) == ["latent_dim"]
    assert [set(row["values"]) for row in result.trials] == [{"latent_dim"}] * 2
    assert all(row["status"] == "COMPLETED" for row in result.trials)
    assert isinstance(result.tuner, tuners.RandomSearch)  # the same tuners as above
    assert result.recipe_path is None  # no named dataset: no recipe to rerun
    with pytest.raises(zoo.ZooError, match="pass both train and validation"):
        zoo.tune("mlp_vae", train=images[:256], directory=tmp_path / "x")


def test_a_stock_tuner_maximises_an_objective_s_own_metric(slices, tmp_path):
    """IWAE declares effective_sample_size as better high: a RandomSearch asked for
    "val_effective_sample_size" maximises it, and its best trial is the highest of two
    epochs each."""
    def build_iwae(hp):
        return zoo.get("iwae", latent_dim=hp.Int("latent_dim", 2, 8), hidden_units=(32,), k=3)

    train, validation = slices
    tuner = tuners.RandomSearch(build_iwae, objective="val_effective_sample_size",
                                max_trials=2, directory=tmp_path, project_name="p", seed=1)
    assert tuner.oracle.objective.direction == "max"
    tuner.search(train, validation_data=validation, epochs=2, verbose=0)
    trials = list(tuner.oracle.trials.values())
    assert len(trials) == 2 and all(t.status == "COMPLETED" for t in trials)
    scores = [t.score for t in trials]
    assert all(1 <= score <= 3 for score in scores)  # 1 <= ESS <= k
    assert tuner.oracle.get_best_trials(1)[0].score == max(scores)
    (model,) = tuner.get_best_models(1)  # the best epoch's weights: its score again
    again = model.evaluate(validation, verbose=0, return_dict=True)["effective_sample_size"]
    assert again == pytest.approx(max(scores), rel=1e-5)
