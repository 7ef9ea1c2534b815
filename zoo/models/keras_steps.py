"""The Keras machinery of ``zoo.models.vae.VAE``, apart from its maths: how tf_keras
compiles, steps, saves and reloads it.

- the compiled settings and a legacy optimizer's state in a ``.keras`` file (Keras's format
  saves the state of new optimizers only), made under the model's strategy before the
  first step (a ``tf.function`` that creates variables is traced twice);
- a step function traced once for several steps per execution (Keras's own loop traces
  the step twice), and one step per execution for ``*_on_batch``.

Every private tf_keras name it needs comes through ``zoo.compat``.
"""

import contextlib

import tensorflow as tf
import tf_keras

from zoo import compat
from zoo.errors import ConfigError

_LEGACY_OPTIMIZER = tf_keras.optimizers.legacy.Optimizer


class KerasSteps(tf_keras.Model):
    """A ``tf_keras.Model`` with the machinery above. The interface between it and its
    subclass (``VAE``), both ways:

    - the subclass provides ``trackers``, the metrics (``tf_keras.metrics.Mean``) its steps
      report, in order; ``compile_settings()``, the keyword arguments of its ``compile``
      besides the optimizer, as a ``.keras`` file keeps them; and may name parts it trains
      with optimizers of their own (``own_optimizers()``);
    - it calls ``create_optimizer_variables()`` before a ``fit`` (the slots made under the
      model's strategy) and ``drop_step_functions()`` when what a traced step holds changes
      (the noise seed)."""

    def compile_settings(self):
        """The subclass's ``compile`` keyword arguments besides the optimizer (JSON)."""
        raise NotImplementedError(f"{type(self).__name__} must define compile_settings()")

    def get_compile_config(self):
        if not compat.is_compiled(self):
            return None
        return {"optimizer": tf_keras.optimizers.serialize(self.optimizer),
                **self.compile_settings()}

    def compile_from_config(self, config):
        settings = {key: value for key, value in config.items() if key != "optimizer"}
        self.compile(optimizer=tf_keras.optimizers.deserialize(config["optimizer"]),
                     **settings)
        self._optimizer_from_file = True  # the file's optimizer: its state comes next

    def own_optimizers(self):
        """``(key, optimizer, variables)`` of each part the model trains with an optimizer
        of its own (FactorVAE's discriminator, a VQ-VAE's prior trained after it); ``key``
        names its state in a ``.keras`` file. None here."""
        return []

    @property
    def optimizer_variables(self):
        """The trainable variables Keras's ``optimizer`` trains: all but those of the parts
        with optimizers of their own (``own_optimizers``)."""
        theirs = {variable.ref() for _, _, variables in self.own_optimizers()
                  for variable in variables}
        return [v for v in self.trainable_variables if v.ref() not in theirs]

    def stepped_optimizers(self):
        """``(key, optimizer, variables)`` of each optimizer a training step applies: Keras's
        ``optimizer`` over ``optimizer_variables``, once compiled, then ``own_optimizers``."""
        model = ([("legacy_optimizer", self.optimizer, self.optimizer_variables)]
                 if compat.is_compiled(self) else [])
        return [*model, *self.own_optimizers()]

    def save_own_variables(self, store):
        """The ``.keras`` weights of the model itself (``step``) and, for each legacy
        optimizer (the default ``ADAM``; Keras's format saves only the state of a new
        ``model.optimizer``), its state."""
        super().save_own_variables(store)
        for key, optimizer, _ in self.stepped_optimizers():
            if isinstance(optimizer, _LEGACY_OPTIMIZER):
                for index, variable in enumerate(optimizer.weights):
                    store[f"{key}_{index}"] = variable.numpy()

    def load_own_variables(self, store):
        own = compat.own_weights(self)
        for index, variable in enumerate(own):
            variable.assign(store[str(index)])
        stepped = self.stepped_optimizers()
        saved = {key: [k for k in store.keys() if k.startswith(f"{key}_")]
                 for key, _, _ in stepped}
        # The state goes only into the optimizers the file itself configured (load_model
        # with compile=True), never into others (compile=False, or load_weights).
        if not any(saved.values()) or not getattr(self, "_optimizer_from_file", False):
            return
        self._optimizer_from_file = False
        unknown = len(store.keys()) - len(own) - sum(map(len, saved.values()))
        for key, optimizer, variables in stepped:
            if not saved[key]:
                continue
            compat.create_optimizer_slots(optimizer, variables)
            weights = optimizer.weights
            if len(weights) != len(saved[key]) or unknown:
                raise ConfigError(f"the file's optimizer state ({len(saved[key])} variables) "
                                  f"does not fit its {type(optimizer).__name__} "
                                  f"({len(weights)}); load it with compile=False")
            for index, variable in enumerate(weights):
                variable.assign(store[f"{key}_{index}"])

    def create_optimizer_variables(self):
        """The optimizers' slots and step counters made now, under the model's strategy,
        rather than by the first traced training step: a ``tf.function`` that creates
        variables is traced twice, which doubled the start of every first ``fit``."""
        if not compat.is_compiled(self):
            return  # Keras says so, in fit
        with self.distribute_strategy.scope():
            for _, optimizer, variables in self.stepped_optimizers():
                if isinstance(optimizer, _LEGACY_OPTIMIZER):
                    compat.create_optimizer_slots(optimizer, variables)
                else:
                    optimizer.build(variables)  # once: Keras skips a rebuild

    def make_train_function(self, force=False):
        return self._step_traced_once("train", force)

    def make_test_function(self, force=False):
        return self._step_traced_once("test", force)

    def _step_traced_once(self, kind, force):
        """Keras's ``train_function``/``test_function`` for several steps per execution,
        with the step traced once. Keras's loop (``for _ in tf.range(steps): outputs =
        step(...)``) starts with ``outputs`` undefined, so AutoGraph traces the whole step
        an extra time to learn its structure: every first ``fit`` and ``evaluate`` paid
        twice the tracing (iaf_vae: 6.5 s instead of 3.3). Here ``outputs`` starts as the
        metrics' zeros, and the step is Keras's own one-step function."""
        make = getattr(super(), f"make_{kind}_function")
        made = getattr(self, f"{kind}_function")
        steps = compat.steps_per_execution(self)
        if made is not None and not force:
            return made
        if (steps is None or self.run_eagerly or int(steps.numpy()) == 1
                or self.autotune_steps_per_execution or compat.cluster_coordinator(self)):
            return make(force)
        saved = steps.numpy()
        steps.assign(1)  # Keras makes its one-step function
        try:
            one_step = make(force=True).python_function
        finally:
            steps.assign(saved)

        def several_steps(iterator):
            outputs = {tracker.name: tf.zeros((), tracker.dtype) for tracker in self.trackers}
            for _ in tf.range(steps):  # read when run: Keras shortens an epoch's last
                outputs = one_step(iterator)
            return outputs

        function = tf.function(several_steps, reduce_retracing=True)
        setattr(self, f"{kind}_function", function)
        if kind == "train":
            self.train_tf_function = function  # the graph Keras's TensorBoard callback writes
        return function

    def train_on_batch(self, *args, **kwargs):
        self.create_optimizer_variables()
        with self._one_step_per_execution():
            return super().train_on_batch(*args, **kwargs)

    def test_on_batch(self, *args, **kwargs):
        with self._one_step_per_execution():
            return super().test_on_batch(*args, **kwargs)

    def predict_on_batch(self, *args, **kwargs):
        with self._one_step_per_execution():
            return super().predict_on_batch(*args, **kwargs)

    @contextlib.contextmanager
    def _one_step_per_execution(self):
        """Keras runs ``steps_per_execution`` steps per call even on the one batch of
        ``*_on_batch`` (and fails at the end of it): one step there, as ``fit`` does for an
        epoch's last few. Keras caches a step function traced for one step per execution
        and would reuse it in ``fit``/``evaluate`` (one batch per execution): dropped."""
        steps = compat.steps_per_execution(self)
        if steps is None:  # not compiled: Keras says so
            yield
            return
        saved = steps.numpy()
        steps.assign(1)
        self.drop_step_functions()
        try:
            yield
        finally:
            steps.assign(saved)
            self.drop_step_functions()

    def drop_step_functions(self):
        """Drops Keras's traced step functions: the next step traces them anew."""
        self.train_function = self.test_function = self.predict_function = None
