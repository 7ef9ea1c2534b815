"""The in-domain feature networks of ``zoo.features``: a classifier per dataset, trained here.

    python benchmarks/feature_classifiers.py --dataset fashion_mnist [--epochs 8]
        [--manual-dir ../shared/datasets]

Trains ``zoo.features.classifier_network`` on the dataset's train split (grey levels in
[0, 1], ``binarization="none"``; batches of 128, Adam 1e-3, seed 0, deterministic ops),
keeps the weights of the epoch with the best validation accuracy, measures their accuracy
on the test split, and writes ``benchmarks/weights/features/DATASET.h5`` and
``benchmarks/results/features-DATASET.json`` (epochs, accuracies, the weights' SHA-256,
seconds, environment). Declare the printed entry in ``zoo/pretrained.py``'s
``CLASSIFIERS``.
"""

import argparse
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's zoo
sys.path.insert(0, str(HERE))  # throughput.py's result files
import throughput  # noqa: E402  (after the paths; imports no TensorFlow)


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
    spec = datasets.spec(args.dataset, manual_dir=args.manual_dir)
    if not spec.class_names:
        raise SystemExit(f"{args.dataset} has no class labels to train a classifier on")
    tf_keras.utils.set_random_seed(0)
    tf.config.experimental.enable_op_determinism()

    def split(name, shuffle=None):
        return data.load(spec, name, 128, binarization="none", labels=True, shuffle=shuffle,
                         manual_dir=args.manual_dir)

    model = classifier_network(spec.shape, len(spec.class_names))
    model.compile(tf_keras.optimizers.legacy.Adam(1e-3),
                  tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    best = tf_keras.callbacks.EarlyStopping("val_accuracy", patience=args.epochs, mode="max",
                                            restore_best_weights=True)
    history = model.fit(split("train").repeat(), steps_per_epoch=data.batches_per_pass(
        data.examples_in(spec, "train", args.manual_dir), 128), epochs=args.epochs,
        validation_data=split("validation"), callbacks=[best], verbose=2)
    _, accuracy = model.evaluate(split("test"), verbose=0)
    FEATURE_WEIGHTS.mkdir(parents=True, exist_ok=True)
    path = FEATURE_WEIGHTS / f"{args.dataset}.h5"
    model.save_weights(path)
    sha256 = files.sha256(path)
    validation = [float(value) for value in history.history["val_accuracy"]]
    result = {"dataset": args.dataset, "network": "zoo.features.classifier_network",
              "epochs": args.epochs, "best_epoch": int(np.argmax(validation)) + 1,
              "validation_accuracy": validation, "test_accuracy": float(accuracy),
              "weights": str(path.relative_to(HERE.parent)), "sha256": sha256,
              "parameters": int(model.count_params())}
    out = HERE / "results" / f"features-{args.dataset}.json"
    throughput.write_result(out, result, started, environment)
    print(f"test accuracy {accuracy:.4f}; wrote {path} and {out}")
    print(f'    "{args.dataset}": Classifier("{args.dataset}", {len(spec.class_names)}, '
          f'sha256="{sha256}", test_accuracy={accuracy:.4f}),')


if __name__ == "__main__":
    main()
