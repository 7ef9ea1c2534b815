"""Pictures of a VAE, as PNG files (matplotlib's Agg canvas; pyplot's state is untouched).

- ``samples``: decoder means p(x|z) for codes z ~ p(z) drawn with a fixed seed;
- ``reconstructions``: images above the decoder means at their posterior means;
- ``manifold``: decoder means over a grid of prior quantiles of two latent dimensions;
- ``latent``: posterior means coloured by class (a PCA projection beyond 2 dimensions);
- ``traverse``: one row per latent dimension, that dimension swept from -3 to 3 prior
  standard deviations around an image's posterior mean;
- ``interpolations``: decoder means along the linear and the spherical path from one
  image's code to another's (``zoo.interpolate``), for three pairs of test images;
- ``SampleGridAnimation``: a Keras callback that renders the samples grid every epoch (same
  codes) and writes an animated GIF at the end of training;
- ``SampleGridSummary``: a Keras callback that logs that grid to TensorBoard every epoch.

Every picture's title says what it shows: model, dataset, epoch and nats where known.
"""

import dataclasses
import functools
import io
import math
import pathlib

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp
import tf_keras
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from zoo import data, datasets, files, interpolation
from zoo.errors import ConfigError

tfd = tfp.distributions


def location(model, images):
    """The codes of ``images`` at the centre of q(z|x): the posterior layer's tensor (its
    mean; for a flow, the base mean carried through the flow). For a hierarchical model,
    the top layer's."""
    return tf.convert_to_tensor(model.encoder(images))


def samples(model, path, n=64, seed=0, title="samples", class_names=None, sampler=None):
    """Writes an image grid of about ``n`` decoder means for z ~ p(z), seeded, or for z drawn
    by ``sampler`` (a fitted ``zoo.samplers`` sampler) (a conditional model: a row per
    class, the same codes in each column); returns ``path``."""
    grid = SampleGrid.of(model, n, seed, class_names, sampler)
    drawn = ("z ~ p(z)" if sampler is None or sampler.kind == "prior"
             else f"z from the {sampler.kind} sampler")
    return _save(grid.figure(model, _titled(model, f"{title}: decoder means, {drawn}")), path)


@dataclasses.dataclass
class SampleGrid:
    """The codes of a samples grid and, for a conditional model, their labels: a row per
    class, each row the same ``columns`` codes."""

    codes: np.ndarray
    labels: np.ndarray = None
    columns: int = 8
    row_labels: list = None

    @classmethod
    def of(cls, model, n, seed, class_names=None, sampler=None):
        def drawn(count):
            if sampler is None or sampler.kind == "prior":
                return prior_codes(model, count, seed)
            return np.asarray(sampler.sample(count, seed=tf.constant([0, seed], tf.int32)))

        if not model.conditional:
            return cls(drawn(n), columns=_columns(n))
        columns = max(1, n // model.classes)
        codes = np.tile(drawn(columns), (model.classes, 1))
        names = (class_names if class_names and len(class_names) == model.classes
                 else [f"y={label}" for label in range(model.classes)])
        return cls(codes, np.repeat(np.arange(model.classes), columns), columns, names)

    def figure(self, model, title):
        return _grid_figure(_decoded(model, self.codes, self.labels), self.columns, title,
                            row_labels=self.row_labels)


def reconstructions(model, images, path, n=16, title="reconstructions"):
    """Writes ``n`` images (top row) above their reconstructions (decoder mean at the
    posterior mean); returns ``path``."""
    _unconditional(model, "recon")
    images = np.asarray(images[:n])
    rebuilt = _decoded(model, location(model, images))
    return _save(_grid_figure(np.concatenate([images, rebuilt]), len(images),
                              f"{title}: data (top), reconstruction (bottom)"), path)


def manifold(model, path, grid=20, dims=None, title="manifold"):
    """Writes the decoder means over a ``grid`` x ``grid`` lattice of prior quantiles
    (5% to 95%) of latent dimensions ``dims`` (the others held at 0); returns ``path``."""
    _unconditional(model, "manifold")
    dims = _two_dims(model, dims, "manifold")
    quantiles = tfd.Normal(0.0, 1.0).quantile(np.linspace(0.05, 0.95, grid)).numpy()
    codes = np.zeros((grid, grid, model.latent_dim), np.float32)
    codes[..., dims[0]] = quantiles[None, :]          # across: dimension dims[0]
    codes[..., dims[1]] = quantiles[::-1, None]       # down: dimension dims[1], top = high
    images = _decoded(model, codes.reshape(-1, model.latent_dim))
    values = [f"{value:.2f}" for value in quantiles]
    across, down = (f"{model.code_name}{dim}" for dim in dims)
    return _save(_grid_figure(images, grid, _titled(model, f"{title}: {across} across, {down} "
                                                    "down, N(0, 1) quantiles 5%-95%, other "
                                                    "dimensions 0"),
                              row_labels=values[::-1], column_labels=values,
                              axis_names=(across, down)), path)


def latent(model, images, labels, path, title="latent space", class_names=None):
    """Writes a scatter of posterior means coloured by label; with more than 2 latent
    dimensions, their projection on the first two principal components; with 1, the
    means against the labels; returns ``path``."""
    _unconditional(model, "latent")
    means = location(model, np.asarray(images)).numpy()
    labels = np.asarray(labels)
    if model.latent_dim == 1:
        means = np.stack([means[:, 0], labels + np.random.default_rng(0).uniform(
            -0.3, 0.3, len(labels))], axis=1)   # each class a band, jittered to show density
        axis_names = (f"{model.code_name}0", "label (jittered)")
        how = "posterior means by label"
    elif model.latent_dim > 2:
        centred = means - means.mean(axis=0)
        _, singular, axes = np.linalg.svd(centred, full_matrices=False)
        means = centred @ axes[:2].T
        explained = (singular[:2] ** 2).sum() / (singular ** 2).sum()
        axis_names = ("PC 1", "PC 2")
        how = f"PCA of the {model.latent_dim}-d posterior means ({explained:.0%} of variance)"
    else:
        axis_names = (f"{model.code_name}0", f"{model.code_name}1")
        how = "posterior means"
    figure = Figure(figsize=(7, 6), dpi=100)
    axes_ = figure.add_subplot()
    classes = max(int(labels.max()) + 1, len(class_names or ()))
    colours = "tab10" if classes <= 10 else "tab20" if classes <= 20 else "viridis"
    points = axes_.scatter(means[:, 0], means[:, 1], c=labels, s=4, vmin=-0.5,
                           vmax=classes - 0.5, cmap=colours)
    colorbar = figure.colorbar(points, ax=axes_, ticks=range(classes) if classes <= 20 else None)
    if class_names and len(class_names) == classes:
        colorbar.ax.set_yticklabels(class_names)
    axes_.set(xlabel=axis_names[0], ylabel=axis_names[1],
              title=_titled(model, f"{title}\n{how}"))
    return _save(figure, path)


def traverse(model, image, path, steps=9, span=3.0, title="latent traversals"):
    """Writes one row per latent dimension: the decoder mean as that dimension goes from
    -span to +span around ``image``'s posterior mean; returns ``path``."""
    _unconditional(model, "traverse")
    centre = location(model, np.asarray(image)[None]).numpy()[0]
    offsets = np.linspace(-span, span, steps, dtype=np.float32)
    codes = np.repeat(centre[None, None], model.latent_dim, 0).repeat(steps, 1)
    for dim in range(model.latent_dim):
        codes[dim, :, dim] = offsets
    images = _decoded(model, codes.reshape(-1, model.latent_dim))
    name = model.code_name
    return _save(_grid_figure(images, steps, _titled(
        model, f"{title}: row i sweeps {name}i from {-span:g} to {span:g}, one image's "
               "posterior mean elsewhere"),
        row_labels=[f"{name}{d}" for d in range(model.latent_dim)]), path)


def interpolations(model, starts, ends, path, steps=10, title="interpolations"):
    """Writes two rows per pair of images (``starts[i]`` to ``ends[i]``): the decoder means
    along the linear path between their codes, then the spherical one
    (``zoo.interpolate``); returns ``path``."""
    _unconditional(model, "interpolate")
    rows, labels = [], []
    for number, (start, end) in enumerate(zip(starts, ends, strict=True)):
        for kind in interpolation.PATHS:
            rows.append(interpolation.interpolate(model, start, end, steps, kind).numpy())
            labels.append(f"{number + 1}: {kind}")
    return _save(_grid_figure(np.concatenate(rows), steps, _titled(
        model, f"{title}: from one test image's code (left) to another's (right), decoder "
               "means"), row_labels=labels), path)


def _titled(model, title):
    """``title`` with what a hierarchical model's codes are."""
    return f"{title}; {model.code_note}" if model.code_note else title


def _unconditional(model, kind):
    if model.conditional:
        raise ConfigError(f"the {kind} plot is for unconditional models; a conditional "
                          "model's pictures are `samples`, a row per class")


KINDS = ("samples", "recon", "manifold", "latent", "traverse", "interpolate")


def from_run(kind, source, out=None, *, dims=None, examples=2000, dataset=None,
             image_size=None, manual_dir=None, data_dir=None, sampler=None):
    """Writes the picture ``kind`` (one of KINDS) of ``source`` (a run folder, or any model
    source ``zoo.sources.resolve`` reads: a ``zoo.save`` folder, a ``.keras`` or row's
    weights file, ``MODEL:WEIGHTS``) to ``out``, using the test split of its dataset (or of
    ``dataset``); returns the path. ``out`` defaults to ``FOLDER/KIND.png`` for a folder,
    else ``NAME-KIND.png`` here (``samples-SAMPLER.png`` for another ``sampler`` than the
    prior: ``zoo.samplers``)."""
    from zoo import samplers, sources

    if kind not in KINDS:
        raise ConfigError(f"unknown plot '{kind}'; choose one of {', '.join(KINDS)}")
    if sampler is not None:
        if kind != "samples":
            raise ConfigError(f"--sampler chooses the codes of the samples plot, not of {kind}")
        samplers.check(sampler)
    named = f"samples-{sampler}" if sampler not in (None, "prior") else kind
    if out is not None and pathlib.Path(out).suffix.lower() != ".png":
        raise ConfigError("plots are written as PNG; name the file "
                          f"{pathlib.Path(out).with_suffix('.png')}")
    found = source if isinstance(source, sources.Source) else sources.resolve(
        source, dataset, image_size, manual_dir=manual_dir, data_dir=data_dir)
    if out is None:
        stem = pathlib.Path(found.name.replace(":", "-")).stem
        out = (found.folder / f"{named}.png" if found.folder
               else pathlib.Path(f"{stem}-{named}.png"))
    out, model, run = pathlib.Path(out), found.model, found.settings
    title = _run_title(run, found.metrics)
    where = found.manual_dir, found.data_dir  # the caller's, or the run's own
    spec = datasets.spec(run["dataset"], run.get("image_size"), *where)
    load = functools.partial(data.load, spec, "test", 500, binarization=run["binarization"],
                             seed=run["seed"], manual_dir=where[0], data_dir=where[1])
    names = list(spec.class_names) if spec.class_names else None
    if kind == "samples":
        fitted = None
        if sampler not in (None, "prior"):  # the run's kept sampler, or one fitted now
            from zoo.scoring import fitted_samplers
            fitted = fitted_samplers(found, [sampler])[sampler]
        return samples(model, out, seed=run["seed"], title=title, class_names=names,
                       sampler=fitted)
    if kind == "manifold":
        return manifold(model, out, dims=dims, title=title)
    if kind == "latent":
        batches = load(labels=True).take(math.ceil(examples / 500))
        images, labels = (np.concatenate(part) for part in zip(*batches))
        return latent(model, images, labels, out, title=title, class_names=names)
    test_images = next(iter(load()))[0].numpy()
    if kind == "recon":
        return reconstructions(model, test_images, out, title=title)
    if kind == "interpolate":  # test images 1 to 2, 3 to 4, 5 to 6
        return interpolations(model, test_images[0:6:2], test_images[1:6:2], out, title=title)
    return traverse(model, test_images[0], out, title=title)


def _run_title(run, metrics=None):
    """``MODEL on DATASET (first N training images), E epochs, test ELBO X nats (M test
    images)`` from a run's settings and recorded test metrics (if any); a folder by its own
    name, a size other than the stored one as `` at HxW``."""
    dataset = pathlib.Path(run["dataset"])
    title = f"{run['model']} on {dataset.name if dataset.is_absolute() else run['dataset']}"
    if run.get("image_size"):
        title += " at {}x{}".format(*datasets.image_size_of(run["image_size"]))
    if run.get("train_examples"):
        title += f" (first {run['train_examples']:,} training images)"
    if metrics:
        epochs, test = metrics["epochs_run"], metrics["test"]
        title += f", {epochs} epoch{'s' * (epochs != 1)}, " + (
            f"test ELBO {test['elbo_nats']:.1f} nats" if "elbo_nats" in test
            else f"test reconstruction {test['reconstruction_nats']:.1f} nats")
        if "elbo_bits_per_dim" in test:
            title += f" ({test['elbo_bits_per_dim']:.3f} bits/dim)"
        if run.get("eval_examples"):
            title += f" on {test.get('examples', run['eval_examples']):,} test images"
    return title


def prior_codes(model, n, seed):
    """``n`` codes drawn from the model's prior with a fixed seed."""
    return model.prior.sample(n, seed=tf.constant([seed, 0], tf.int32)).numpy()


class SampleGridAnimation(tf_keras.callbacks.Callback):
    """Renders the samples grid for the same codes after every epoch and writes all frames
    as an animated GIF to ``path`` when training ends (one frame per epoch)."""

    def __init__(self, path, n=64, seed=0, title="samples", frame_seconds=0.5):
        super().__init__()
        self.path, self.n, self.seed, self.title = pathlib.Path(path), n, seed, title
        self.frame_seconds = frame_seconds
        self.frames = []

    def on_train_begin(self, logs=None):
        self.grid = SampleGrid.of(self.model, self.n, self.seed)
        self.frames = []

    def on_epoch_end(self, epoch, logs=None):
        self.frames.append(_grid_png(self.model, self.grid, self.title, epoch, logs))

    def on_train_end(self, logs=None):
        if not self.frames:
            return
        frames = [Image.open(io.BytesIO(png)).convert("P", palette=Image.ADAPTIVE)
                  for png in self.frames]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with files.atomic_path(self.path) as partial:
            frames[0].save(partial, format="GIF", save_all=True, append_images=frames[1:],
                           duration=int(self.frame_seconds * 1000), loop=0)


class SampleGridSummary(tf_keras.callbacks.Callback):
    """Logs the samples grid for the same codes to TensorBoard after every epoch (tag
    ``samples``), beside the loss, reconstruction and KL that ``TensorBoard`` logs."""

    def __init__(self, log_dir, n=64, seed=0, title="samples"):
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(pathlib.Path(log_dir) / "samples"))
        self.n, self.seed, self.title = n, seed, title

    def on_train_begin(self, logs=None):
        self.grid = SampleGrid.of(self.model, self.n, self.seed)

    def on_epoch_end(self, epoch, logs=None):
        png = _grid_png(self.model, self.grid, self.title, epoch, logs)
        with self.writer.as_default():
            tf.summary.image("samples", tf.image.decode_png(png)[None], step=epoch)
        self.writer.flush()


def _grid_png(model, grid, title, epoch, logs):
    logs = logs or {}
    nats = ""
    if "val_kl" in logs:
        nats = f", validation -ELBO {logs['val_reconstruction'] + logs['val_kl']:.1f} nats"
    elif "val_reconstruction" in logs:  # an autoencoder's
        nats = f", validation reconstruction {logs['val_reconstruction']:.1f} nats"
    figure = grid.figure(model, f"{title}: epoch {epoch + 1}{nats}")
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def _decoded(model, codes, labels=None):
    """Decoder means (Bernoulli: pixel probabilities) for ``codes`` (and, for a
    conditional model, ``labels``), as images (n, h, w, channels)."""
    return model.decode(tf.convert_to_tensor(codes, tf.float32), labels).mean().numpy()


def _two_dims(model, dims, kind):
    if dims is None:
        if model.latent_dim != 2:
            raise ConfigError(f"the {kind} plot needs two latent dimensions and this model has "
                              f"{model.latent_dim}; choose two with --dims I,J (Python: "
                              "dims=(i, j)), the others held at 0")
        return 0, 1
    dims = tuple(dims)
    if len(dims) != 2 or len(set(dims)) != 2 or not all(
            isinstance(d, int) and 0 <= d < model.latent_dim for d in dims):
        raise ConfigError(f"dims must be two different latent dimensions in 0..."
                          f"{model.latent_dim - 1}, got {dims}")
    return dims


def _columns(n):
    return math.ceil(math.sqrt(n))


def _grid_figure(images, columns, title, row_labels=None, column_labels=None,
                 axis_names=(None, None)):
    """A figure of ``images`` (n, h, w, c) tiled ``columns`` wide, with a title; labels
    under the columns and beside the rows if given, ``axis_names`` (x, y) naming them.
    Matplotlib's constrained layout fits the title above the grid, with no blank band."""
    n, height, width, channels = images.shape
    rows = math.ceil(n / columns)
    tiled = np.full((rows * (height + 1) + 1, columns * (width + 1) + 1, channels), 0.5)
    for index, image in enumerate(images):
        row, column = divmod(index, columns)
        tiled[1 + row * (height + 1):(row + 1) * (height + 1),
              1 + column * (width + 1):(column + 1) * (width + 1)] = image
    size = max(0.45, (width + 1) / 80)  # inches a tile: 64x64 images at their own pixels or more
    margin = 0.5 + 0.4 * bool(column_labels) + 0.3 * bool(axis_names[0])
    figure = Figure(figsize=(max(4.0, columns * size + 0.8 + 0.5 * bool(row_labels)),
                             rows * size + margin), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    axes.imshow(tiled.squeeze(-1) if channels == 1 else tiled, cmap="gray_r", vmin=0, vmax=1)
    centres = {"x": [(width + 1) * (i + 0.5) for i in range(columns)],
               "y": [(height + 1) * (i + 0.5) for i in range(rows)]}
    axes.set_xticks(centres["x"] if column_labels else [], labels=column_labels or [],
                    fontsize=6, rotation=90 if column_labels else 0)
    axes.set_yticks(centres["y"] if row_labels else [], labels=row_labels or [], fontsize=7)
    axes.set_xlabel(axis_names[0] or "", fontsize=8)
    axes.set_ylabel(axis_names[1] or "", fontsize=8)
    figure.suptitle(title, fontsize=9, wrap=True)
    return figure


def _save(figure, path):
    path = pathlib.Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"plots are written as PNG; name the file {path.with_suffix('.png')}")
    path.parent.mkdir(parents=True, exist_ok=True)
    with files.atomic_path(path) as partial:
        FigureCanvasAgg(figure).print_png(str(partial))
    return path
