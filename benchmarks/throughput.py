"""Training throughput: the zoo's ``fit`` against a plain TF GradientTape loop and PyTorch.

    python benchmarks/throughput.py [--models mlp_vae cnn_vae] [--batch-size 128]
        [--steps N] [--rounds 3] [--manual-dir DIR] [--out FILE]

For each model, at one batch size on binarized_mnist's training split, these contenders
train with Adam(1e-3) on the same architecture and the same loss (Bernoulli
reconstruction + analytic KL against N(0, I), nats per example):

- ``zoo fit``: ``zoo.get(model)`` trained with ``model.fit`` on ``zoo.data.load``, as
  ``zoo.train`` runs it by default;
- ``zoo fit xla``: the same with ``compile(jit_compile=True)``;
- ``zoo fit det``: the same with ``deterministic = true`` (TensorFlow's deterministic ops);
- ``zoo fit mixed``: the same model built under ``mixed_bfloat16`` (``zoo train
  --mixed-precision``: the networks in bfloat16, the distributions and loss in float32;
  ``zoo.precision``), whether or not the machine computes bfloat16 natively;
- ``zoo fit const``: the same model on one constant batch repeated (no input pipeline);
- ``tf loop``: plain tf_keras layers and a ``tf.function`` GradientTape step (the TF
  tutorials' CVAE loop) on the same ``zoo.data.load`` pipeline;
- ``torch loop``: plain ``torch.nn`` layers and a PyTorch training loop over the same images
  held in memory (only when torch is installed: ``pip install -e ".[torch]"``); before it
  runs, ``check_torch_loop`` stops the benchmark unless the torch model has the zoo's
  parameter counts and (mlp_vae) computes the zoo's loss on the zoo's weights.

The two loops are written for mlp_vae and cnn_vae (``HAND_WRITTEN``); any other registered
builder (``--models conv_vamp_vae``) is measured by the ``zoo fit`` contenders alone, at its
default settings (but for 28x28 images, with labels for a conditional model) with its own
objective, so that its cost per image is known before a long run is planned.

Each contender lives in its own process (so its peak memory is its own), and they take
turns: round 1 runs every contender for ``--steps`` steps, then round 2, and so on, so a
slow-down of the machine hits all of them alike. The first call of each contender (tracing,
XLA compilation) is a warm-up and is not timed. A timed call includes what a user pays per
``fit`` call (callbacks, iterator set-up), amortised over ``--steps`` steps (by default
one epoch for mlp_vae).

Printed and written to ``--out`` (default ``benchmarks/results/throughput-<cpu|gpu>.json``)
with the environment: examples/s per round and their median, peak resident memory of each
contender's process (and peak GPU memory on a GPU), the ratios zoo / tf loop,
zoo / torch loop, xla / zoo, and data / constant batch (1.0: the step never waits on data)
of the medians and, round by round, of the two contenders' back-to-back runs,
and how fast the input pipeline alone delivers batches. ``benchmarks/THROUGHPUT.md`` is
regenerated from the result files.
"""

import argparse
import contextlib
import datetime
import json
import multiprocessing
import os
import pathlib
import resource
import statistics
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's zoo (also in the spawned workers)
from zoo import quiet  # noqa: E402  (imports no TensorFlow)

quiet.legacy_keras()  # this process and its spawned workers start without Keras 3
CONTENDERS = ("zoo fit", "zoo fit xla", "zoo fit det", "zoo fit mixed", "zoo fit const",
              "tf loop", "torch loop")
LEARNING_RATE = 1e-3
# One epoch of binarized_mnist at batch 128 for mlp_vae, so a timed ``fit`` call carries its
# set-up (callbacks, iterator) as one epoch of real training does; cnn_vae's steps are long
# enough that the set-up is negligible in 100.
DEFAULT_STEPS = {"mlp_vae": 391, "cnn_vae": 100}
HAND_WRITTEN = tuple(DEFAULT_STEPS)  # the models the tf and torch loops are written for
LOOPS = ("tf loop", "torch loop")


def contenders_for(model, contenders):
    """``contenders`` that can train ``model``: the zoo's alone for a builder without
    hand-written loops."""
    return [name for name in contenders if model in HAND_WRITTEN or name not in LOOPS]


# ---------------------------------------------------------------- plain TensorFlow
def tf_layers(model, latent_dim=None):
    """The zoo builder's default architecture as plain tf_keras layers:
    ``(encoder, decoder)``, the encoder giving the posterior's raw parameters and the
    decoder the Bernoulli logits of the flattened image."""
    import tf_keras
    from tf_keras import layers

    if model == "mlp_vae":
        latent_dim = latent_dim or 32
        encoder = tf_keras.Sequential([layers.InputLayer((28, 28, 1)), layers.Flatten(),
                                       layers.Dense(512, activation="relu"),
                                       layers.Dense(256, activation="relu"),
                                       layers.Dense(2 * latent_dim)])
        decoder = tf_keras.Sequential([layers.InputLayer((latent_dim,)),
                                       layers.Dense(256, activation="relu"),
                                       layers.Dense(512, activation="relu"),
                                       layers.Dense(784)])
        return encoder, decoder
    latent_dim = latent_dim or 16
    conv = dict(kernel_size=3, strides=2, padding="same", activation="relu")
    encoder = tf_keras.Sequential([layers.InputLayer((28, 28, 1)),
                                   layers.Conv2D(32, **conv), layers.Conv2D(64, **conv),
                                   layers.Flatten(),
                                   layers.Dense(latent_dim + latent_dim * (latent_dim + 1) // 2)])
    decoder = tf_keras.Sequential([layers.InputLayer((latent_dim,)),
                                   layers.Dense(7 * 7 * 64, activation="relu"),
                                   layers.Reshape((7, 7, 64)),
                                   layers.Conv2DTranspose(64, **conv),
                                   layers.Conv2DTranspose(32, **conv),
                                   layers.Conv2D(1, 3, padding="same"), layers.Flatten()])
    return encoder, decoder


def tf_posterior(params, latent_dim, full_covariance):
    """``(loc, scale)``: scale is the diagonal (softplus + 1e-5), or the lower-triangular
    factor with that diagonal, as in the zoo's posterior layers."""
    import tensorflow as tf
    import tensorflow_probability as tfp

    loc, raw = params[:, :latent_dim], params[:, latent_dim:]
    if not full_covariance:
        return loc, tf.nn.softplus(raw) + 1e-5
    tril = tfp.math.fill_triangular(raw)
    return loc, tf.where(tf.eye(latent_dim, dtype=tf.bool), tf.nn.softplus(tril) + 1e-5, tril)


def tf_negative_elbo(encoder, decoder, x, latent_dim, full_covariance, eps):
    """Per-example ``-log p(x|z) + KL(q(z|x) || N(0, I))`` with ``z = loc + scale @ eps``."""
    import tensorflow as tf

    loc, scale = tf_posterior(encoder(x), latent_dim, full_covariance)
    if full_covariance:
        z = loc + tf.linalg.matvec(scale, eps)
        log_diagonal = tf.math.log(tf.linalg.diag_part(scale))
    else:
        z = loc + scale * eps
        log_diagonal = tf.math.log(scale)
    kl = 0.5 * (tf.reduce_sum(tf.square(scale), axis=[-2, -1] if full_covariance else -1)
                + tf.reduce_sum(tf.square(loc), -1) - latent_dim) - tf.reduce_sum(
                    log_diagonal, -1)
    logits = decoder(z)
    targets = tf.reshape(x, [tf.shape(x)[0], -1])
    reconstruction = tf.reduce_sum(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=targets, logits=logits), -1)
    return reconstruction + kl


class TfLoop:
    """A hand-written ``tf.function`` GradientTape training step on the zoo's pipeline."""

    def __init__(self, model, batch_size, manual_dir):
        import tensorflow as tf
        import tf_keras

        from zoo import data

        self.encoder, self.decoder = tf_layers(model)
        self.latent_dim = self.decoder.input_shape[-1]
        full_covariance = model != "mlp_vae"
        optimizer = tf_keras.optimizers.Adam(LEARNING_RATE)
        variables = self.encoder.trainable_variables + self.decoder.trainable_variables

        @tf.function
        def step(x):
            eps = tf.random.normal([tf.shape(x)[0], self.latent_dim])
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean(tf_negative_elbo(self.encoder, self.decoder, x,
                                                       self.latent_dim, full_covariance, eps))
            optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
            return loss

        self.step = step
        self.batches = iter(data.load("binarized_mnist", "train", batch_size,
                                      manual_dir=manual_dir).repeat())

    def run(self, steps):
        for _ in range(steps):
            x, _ = next(self.batches)
            loss = self.step(x)
        return float(loss)


# ---------------------------------------------------------------- zoo
class ZooFit:
    """``zoo.get(model)`` for binarized_mnist's 28x28 images trained with ``fit`` on the
    zoo's pipeline (or a constant batch), with the labels for a conditional model."""

    def __init__(self, model, batch_size, manual_dir, jit_compile=False, constant=False,
                 deterministic=False, mixed=False):
        import tensorflow as tf

        import zoo
        from zoo import data, precision

        if deterministic:  # as zoo.train does; process-wide
            tf.config.experimental.enable_op_determinism()
        with precision.policy(precision.POLICY if mixed else None):
            self.model = zoo.get(model, input_shape=(28, 28, 1))
        if jit_compile:
            self.model.compile(optimizer=self.model.optimizer, jit_compile=True)
        self.pipeline = data.load("binarized_mnist", "train", batch_size, manual_dir=manual_dir,
                                  labels=self.model.conditional)
        self.batches = (tf.data.Dataset.from_tensors(next(iter(self.pipeline))).repeat()
                        .with_options(self.pipeline.options())  # the pipeline's: no autotune
                        if constant else self.pipeline.repeat())

    def run(self, steps):
        history = self.model.fit(self.batches, epochs=1, steps_per_epoch=steps, verbose=0)
        return history.history["loss"][-1]

    def pipeline_batches_per_second(self, batches=300):
        """The input pipeline alone: batches/s delivered with no training step."""
        iterator = iter(self.pipeline.repeat())
        next(iterator)
        started = time.perf_counter()
        for _ in range(batches):
            next(iterator)
        return batches / (time.perf_counter() - started)


# ---------------------------------------------------------------- PyTorch
def torch_modules(model, latent_dim=None):
    """The same architecture in ``torch.nn`` (channels first): ``(encoder, decoder)``."""
    from torch import nn

    if model == "mlp_vae":
        latent_dim = latent_dim or 32
        encoder = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.ReLU(),
                                nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 2 * latent_dim))
        decoder = nn.Sequential(nn.Linear(latent_dim, 256), nn.ReLU(), nn.Linear(256, 512),
                                nn.ReLU(), nn.Linear(512, 784))
        return encoder, decoder
    latent_dim = latent_dim or 16
    encoder = nn.Sequential(nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1),
                            nn.ReLU(), nn.Flatten(),
                            nn.Linear(7 * 7 * 64, latent_dim + latent_dim * (latent_dim + 1) // 2))
    decoder = nn.Sequential(nn.Linear(latent_dim, 7 * 7 * 64), nn.ReLU(),
                            nn.Unflatten(1, (64, 7, 7)),
                            nn.ConvTranspose2d(64, 64, 3, 2, 1, output_padding=1), nn.ReLU(),
                            nn.ConvTranspose2d(64, 32, 3, 2, 1, output_padding=1), nn.ReLU(),
                            nn.Conv2d(32, 1, 3, 1, 1), nn.Flatten())
    return encoder, decoder


def torch_negative_elbo(encoder, decoder, x, latent_dim, full_covariance, eps):
    """``tf_negative_elbo`` in PyTorch."""
    import torch
    from torch.nn import functional

    params = encoder(x)
    loc, raw = params[:, :latent_dim], params[:, latent_dim:]
    if full_covariance:
        tril = loc.new_zeros(len(x), latent_dim, latent_dim)
        rows, cols = torch.tril_indices(latent_dim, latent_dim)
        tril[:, rows, cols] = raw
        diagonal = torch.eye(latent_dim, dtype=torch.bool)
        scale = torch.where(diagonal, functional.softplus(tril) + 1e-5, tril)
        z = loc + (scale @ eps.unsqueeze(-1)).squeeze(-1)
        log_diagonal = torch.log(torch.diagonal(scale, dim1=-2, dim2=-1))
        trace = scale.square().sum((-2, -1))
    else:
        scale = functional.softplus(raw) + 1e-5
        z = loc + scale * eps
        log_diagonal, trace = torch.log(scale), scale.square().sum(-1)
    kl = 0.5 * (trace + loc.square().sum(-1) - latent_dim) - log_diagonal.sum(-1)
    reconstruction = functional.binary_cross_entropy_with_logits(
        decoder(z), x.flatten(1), reduction="none").sum(-1)
    return reconstruction + kl


def torch_loop_problem(model, manual_dir):
    """What keeps the torch loop from training what the zoo trains, or None:
    ``torch_modules(model)`` must have as many parameters as ``zoo.get(model)``'s encoder
    and decoder, and, for mlp_vae (whose Dense layers map one to one onto Linear ones),
    given the zoo model's weights compute the zoo's per-example loss (TFP's log-likelihood
    and KL) on the same 32 test images and noise, to rtol 1e-4."""
    import numpy as np
    import tensorflow as tf
    import tensorflow_probability as tfp
    import torch

    import zoo
    from zoo import data

    zoo_model = zoo.get(model)
    encoder, decoder = torch_modules(model)
    for part, torch_part, zoo_part in (("encoder", encoder, zoo_model.encoder),
                                       ("decoder", decoder, zoo_model.decoder)):
        torch_count = sum(parameter.numel() for parameter in torch_part.parameters())
        zoo_count = sum(int(np.prod(weight.shape)) for weight in zoo_part.weights)
        if torch_count != zoo_count:
            return f"the {part} has {torch_count} parameters, the zoo's {zoo_count}"
    if model != "mlp_vae":
        return None
    dense = [layer for layer in zoo_model.encoder.layers + zoo_model.decoder.layers
             if layer.weights]
    linear = [m for m in [*encoder, *decoder] if isinstance(m, torch.nn.Linear)]
    if len(dense) != len(linear):
        return f"{len(linear)} Linear layers for the zoo's {len(dense)} Dense ones"
    with torch.no_grad():
        for keras_layer, torch_layer in zip(dense, linear):
            kernel, bias = keras_layer.get_weights()
            torch_layer.weight.copy_(torch.from_numpy(kernel.T))
            torch_layer.bias.copy_(torch.from_numpy(bias))
    x = next(iter(data.load("binarized_mnist", "test", 32, manual_dir=manual_dir)))[0].numpy()
    latent_dim = zoo_model.latent_dim
    eps = tf.random.stateless_normal([len(x), latent_dim], [5, 6])
    posterior = zoo_model.encoder(x)
    z = posterior.loc + posterior.scale.matvec(eps)
    zoo_loss = (-zoo_model.decoder(z).log_prob(x)
                + tfp.distributions.kl_divergence(posterior, zoo_model.prior)).numpy()
    x_torch = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        torch_loss = torch_negative_elbo(encoder, decoder, x_torch, latent_dim, False,
                                         torch.from_numpy(eps.numpy())).numpy()
    if not np.allclose(torch_loss, zoo_loss, rtol=1e-4, atol=0):
        return (f"on the zoo's weights its loss is {torch_loss.mean():.4f} nats per example, "
                f"the zoo's {zoo_loss.mean():.4f} (largest difference "
                f"{np.abs(torch_loss - zoo_loss).max():.4g})")
    return None


def _torch_loop_problems(models, manual_dir):
    import zoo  # noqa: F401  (first: it quiets TensorFlow's start-up messages)

    return {model: torch_loop_problem(model, manual_dir) for model in models}


def check_torch_loop(models, manual_dir):
    """Stops the benchmark with a one-line error unless the torch loop trains what the zoo
    trains (``torch_loop_problem``) for every one of ``models``. The check runs in a process
    of its own, which ends before the contenders start: their memory, on the CPU and the
    GPU, stays their own."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        problems = pool.apply(_torch_loop_problems, (models, manual_dir))
    for model, problem in problems.items():
        if problem:
            raise SystemExit(f"throughput.py: error: torch loop, {model}: {problem}; its "
                             "comparison with the zoo would not be like with like")


class TorchLoop:
    """A plain PyTorch loop: shuffled in-memory batches, the same loss, torch.optim.Adam."""

    def __init__(self, model, batch_size, manual_dir):
        import numpy as np
        import torch

        from zoo import data

        torch.set_num_threads(os.cpu_count() or 1)
        self.torch = torch
        self.encoder, self.decoder = torch_modules(model)
        self.latent_dim = self.decoder[0].in_features
        self.full_covariance = model != "mlp_vae"
        parameters = [*self.encoder.parameters(), *self.decoder.parameters()]
        self.optimizer = torch.optim.Adam(parameters, lr=LEARNING_RATE)
        images = np.concatenate([x for x, _ in data.load("binarized_mnist", "train", 10000,
                                                         manual_dir=manual_dir)])
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
        self.batch_size = batch_size
        self.order, self.position = torch.randperm(len(self.images)), 0

    def next_batch(self):
        if self.position + self.batch_size > len(self.images):
            self.order, self.position = self.torch.randperm(len(self.images)), 0
        rows = self.order[self.position:self.position + self.batch_size]
        self.position += self.batch_size
        return self.images[rows]

    def run(self, steps):
        for _ in range(steps):
            x = self.next_batch()
            eps = self.torch.randn(len(x), self.latent_dim)
            loss = torch_negative_elbo(self.encoder, self.decoder, x, self.latent_dim,
                                       self.full_covariance, eps).mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return loss.item()


# ---------------------------------------------------------------- processes
def make_contender(name, model, batch_size, manual_dir):
    if name == "tf loop":
        return TfLoop(model, batch_size, manual_dir)
    if name == "torch loop":
        return TorchLoop(model, batch_size, manual_dir)
    return ZooFit(model, batch_size, manual_dir, jit_compile=name == "zoo fit xla",
                  constant=name == "zoo fit const", deterministic=name == "zoo fit det",
                  mixed=name == "zoo fit mixed")


def worker(connection, name, model, batch_size, manual_dir):
    """One contender's process: builds it, warms it up, then runs what it is asked."""
    import zoo  # noqa: F401  (first: it quiets TensorFlow's start-up messages)

    try:
        contender = make_contender(name, model, batch_size, manual_dir)
        contender.run(5)  # tracing, XLA compilation
        connection.send(("ready", None))
        while (request := connection.recv()) is not None:
            kind, steps = request
            if kind == "pipeline":
                connection.send(("ok", contender.pipeline_batches_per_second()))
                continue
            started = time.perf_counter()
            loss = contender.run(steps)
            connection.send(("ok", {"seconds": time.perf_counter() - started, "loss": loss,
                                    "peak_rss_mib": _peak_rss_mib(),
                                    "peak_gpu_mib": _peak_gpu_mib(name)}))
    except Exception as error:  # reported by the parent, which stops the benchmark
        connection.send(("error", f"{type(error).__name__}: {error}"))


def _peak_rss_mib():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _peak_gpu_mib(name):
    if name == "torch loop":
        return None
    import tensorflow as tf

    if not tf.config.list_physical_devices("GPU"):
        return None
    return tf.config.experimental.get_memory_info("GPU:0")["peak"] / 2**20


class Contender:
    """The parent's handle on one worker process (started here; ``answer()`` waits until it
    is ready)."""

    def __init__(self, name, model, batch_size, manual_dir):
        self.name = name
        context = multiprocessing.get_context("spawn")
        self.connection, child = context.Pipe()
        self.process = context.Process(target=worker, daemon=True,
                                       args=(child, name, model, batch_size, manual_dir))
        self.process.start()

    def ask(self, kind, steps=None):
        self.connection.send((kind, steps))
        return self.answer()

    def answer(self):
        status, value = self.connection.recv()
        if status == "error":
            self.close()
            raise SystemExit(f"throughput.py: error: {self.name} failed: {value}")
        return value

    def close(self):
        if self.process.is_alive():
            with contextlib.suppress(OSError, EOFError):
                self.connection.send(None)
            self.process.join(timeout=30)
            self.process.kill()


def measure(model, contenders, batch_size, steps, rounds, manual_dir, say=print):
    """Runs ``contenders`` in turn for ``rounds`` rounds; returns this model's section."""
    handles = [Contender(name, model, batch_size, manual_dir) for name in contenders]
    try:
        for handle in handles:  # they start side by side; the timing waits for all of them
            handle.answer()
        runs = {name: [] for name in contenders}
        for round_ in range(1, rounds + 1):
            for handle in handles:
                result = handle.ask("run", steps)
                result["examples_per_second"] = steps * batch_size / result["seconds"]
                runs[handle.name].append(result)
                say(f"{model} round {round_}/{rounds} {handle.name:>13}: "
                    f"{result['examples_per_second']:8.0f} ex/s  "
                    f"(loss {result['loss']:.1f}, peak RSS {result['peak_rss_mib']:.0f} MiB)")
        pipeline = next((h.ask("pipeline") for h in handles if h.name == "zoo fit"), None)
    finally:
        for handle in handles:
            handle.close()
    section = {"contenders": {}, "ratios": {}}
    for name, results in runs.items():
        section["contenders"][name] = {
            "examples_per_second": statistics.median(r["examples_per_second"] for r in results),
            "rounds_examples_per_second": [r["examples_per_second"] for r in results],
            "peak_rss_mib": max(r["peak_rss_mib"] for r in results),
            "peak_gpu_mib": results[-1]["peak_gpu_mib"],
            "last_loss": results[-1]["loss"],
        }
    rate = {name: c["examples_per_second"] for name, c in section["contenders"].items()}
    section["round_ratios"] = {}
    for ratio, (top, bottom) in RATIOS.items():
        if top in rate and bottom in rate:
            section["ratios"][ratio] = rate[top] / rate[bottom]
            section["round_ratios"][ratio] = [  # paired: the two ran one after the other
                a["examples_per_second"] / b["examples_per_second"]
                for a, b in zip(runs[top], runs[bottom])]
    if pipeline is not None:
        section["pipeline_alone_examples_per_second"] = pipeline * batch_size
    return section


RATIOS = {"zoo / tf loop": ("zoo fit", "tf loop"),
          "zoo / torch loop": ("zoo fit", "torch loop"),
          "xla / zoo": ("zoo fit xla", "zoo fit"),
          "deterministic / zoo": ("zoo fit det", "zoo fit"),
          "mixed / zoo": ("zoo fit mixed", "zoo fit"),
          "data / constant batch": ("zoo fit", "zoo fit const")}


# ---------------------------------------------------------------- report
def table(results):
    """THROUGHPUT.md from result dicts: one row per (hardware, model)."""
    rates = ("zoo fit", "zoo fit xla", "zoo fit mixed", "tf loop", "torch loop")
    columns = ["hardware", "model", "batch", *rates, *RATIOS,
               "peak RSS zoo / torch (MiB)", "commit"]
    lines = ["# Training throughput", "",
             "Generated by `python benchmarks/throughput.py` from `results/throughput-*.json`;"
             " do not edit. Examples/s (medians over alternating rounds) and their ratios;"
             " see README.md.", "",
             "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for result in results:
        environment = result["environment"]
        hardware = ", ".join(environment["gpus"]) or (
            f"{environment['cpu']} ({environment['cpu_count']} cores)")
        for model, section in result["models"].items():
            rate = {n: c["examples_per_second"] for n, c in section["contenders"].items()}
            rss = {n: c["peak_rss_mib"] for n, c in section["contenders"].items()}
            cells = [hardware, model, str(result["batch_size"]),
                     *[_number(rate.get(name)) for name in rates],
                     *[_ratio(section["ratios"].get(name)) for name in RATIOS],
                     f"{_number(rss.get('zoo fit'))} / {_number(rss.get('torch loop'))}",
                     (environment["git_commit"] or "?")[:7]]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _number(value):
    return "—" if value is None else f"{value:,.0f}"


def _ratio(value):
    return "—" if value is None else f"{value:.2f}×"


def write_table(results_dir, path):
    files = sorted(pathlib.Path(results_dir).glob("throughput-*.json"))
    results = [json.loads(file.read_text()) for file in files]
    from zoo.files import atomic_path

    with atomic_path(path) as partial:
        partial.write_text(table(results))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    from zoo import catalog  # the zoo's builders, without importing TensorFlow

    parser.add_argument("--models", nargs="+", default=list(HAND_WRITTEN),
                        choices=sorted(catalog.models()), metavar="MODEL",
                        help="registered builders (default: %(default)s); the tf and torch "
                        "loops exist for " + " and ".join(HAND_WRITTEN))
    parser.add_argument("--contenders", nargs="+", default=list(CONTENDERS),
                        choices=CONTENDERS)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, help="timed steps per round (default: "
                        + ", ".join(f"{m} {n}" for m, n in DEFAULT_STEPS.items())
                        + ", any other 100)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--manual-dir", help="folder of the tfds source files (offline)")
    parser.add_argument("--out", help="result file (default "
                        "benchmarks/results/throughput-<cpu|gpu>.json)")
    parser.add_argument("--table", default=str(HERE / "THROUGHPUT.md"),
                        help="the Markdown table regenerated from the result files")
    args = parser.parse_args(argv)
    for name in ("batch_size", "steps", "rounds"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    contenders = list(args.contenders)
    if "torch loop" in contenders and not _has_torch():
        print("torch is not installed (pip install -e \".[torch]\"): no torch loop")
        contenders.remove("torch loop")
    for model in args.models:
        if not contenders_for(model, contenders):
            parser.error(f"the contenders {', '.join(contenders)} are written for "
                         f"{' and '.join(HAND_WRITTEN)} alone; add 'zoo fit' to measure {model}")
    out, environment = result_file(parser, args, "throughput")
    for model in args.models:
        if set(contenders) - set(contenders_for(model, contenders)):
            print(f"{model}: measured by the zoo's contenders alone (the tf and torch loops "
                  f"are written for {' and '.join(HAND_WRITTEN)})")
    hand_written = [model for model in args.models if model in HAND_WRITTEN]
    if "torch loop" in contenders and hand_written:
        check_torch_loop(hand_written, args.manual_dir)
        print("torch loop: checked: the zoo's parameter counts, and (mlp_vae) its loss on "
              "the zoo's weights")
    started = time.time()
    steps = {model: args.steps or DEFAULT_STEPS.get(model, 100) for model in args.models}
    models = {model: measure(model, contenders_for(model, contenders), args.batch_size,
                             steps[model], args.rounds, args.manual_dir)
              for model in args.models}
    write_result(out, {"batch_size": args.batch_size, "steps_per_round": steps,
                       "rounds": args.rounds, "contenders": contenders, "models": models},
                 started, {**environment, "torch": _torch_version()})
    for model, section in models.items():
        print(f"{model}: " + ", ".join(
            f"{name} {value:.2f}x (rounds {min(section['round_ratios'][name]):.2f}-"
            f"{max(section['round_ratios'][name]):.2f}x)"
            for name, value in section["ratios"].items()))
    print(f"result file: {out}")
    if args.table:
        write_table(out.parent, args.table)
        print(f"table: {args.table}")


def result_file(parser, args, stem):
    """``(path, environment)`` of a benchmark's result file: ``args.out`` or
    ``results/<stem>-<cpu|gpu>.json``. First checks that binarized_mnist is at hand
    (``args.manual_dir`` or tfds's folder), else a one-line ``parser.error`` naming the
    files to provide, instead of a failure inside a worker."""
    from zoo import datasets, provenance
    from zoo.errors import ZooError

    try:
        datasets.prepared_builder("binarized_mnist", manual_dir=args.manual_dir)
    except ZooError as error:
        parser.error(str(error))
    environment = provenance.environment()
    device = "gpu" if environment["gpus"] else "cpu"
    return pathlib.Path(args.out or HERE / "results" / f"{stem}-{device}.json"), environment


def write_result(out, result, started, environment):
    """Writes ``result`` with the run's wall time (since ``started``), end time and
    environment to ``out``, atomically."""
    from zoo import files

    result = {**result, "wall_seconds": time.time() - started,
              "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(
                  timespec="seconds"),
              "environment": environment}
    out.parent.mkdir(parents=True, exist_ok=True)
    files.write_json(out, result)


def _has_torch():
    import importlib.util

    return importlib.util.find_spec("torch") is not None


def _torch_version():
    from importlib import metadata

    try:
        return metadata.version("torch")
    except metadata.PackageNotFoundError:
        return None


if __name__ == "__main__":
    main()
