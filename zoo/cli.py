"""The ``zoo`` command: list models, train one, re-evaluate a run.

Every mistake a user can make ends in one line ``zoo: error: ...`` and exit status 2.
"""

import argparse
import os
import pathlib
import sys


def main(argv=None):
    parser = _parser()
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ start-up chatter
    from zoo.errors import ZooError

    try:
        return args.command(args)
    except ZooError as error:
        parser.exit(2, f"zoo: error: {error}\n")
    except KeyboardInterrupt:
        parser.exit(130, "zoo: interrupted; finished files in the output folder are intact\n")


def list_models(args):
    from zoo.models import list_models
    from zoo.models.registry import builder

    for name, description in list_models().items():
        print(f"{name:12s} {description}")
        if args.verbose:
            for field in builder(name).fields.values():
                print(f"{'':14s}{field.describe()}")


def train(args):
    from zoo.models.registry import builder
    from zoo.train import RunConfig, train

    entry = builder(args.model)
    overrides = dict(_parse_override(entry, text) for text in args.set)
    if args.latent_dim is not None:
        overrides["latent_dim"] = entry.field("latent_dim").validate(args.latent_dim)
    config = RunConfig(model=args.model, overrides=overrides, dataset=args.dataset,
                       binarization=args.binarization, epochs=args.epochs,
                       batch_size=args.batch_size, seed=args.seed,
                       eval_samples=args.eval_samples)
    out = args.out or pathlib.Path("runs") / f"{args.model}-{args.dataset}"
    _, metrics = train(config, out, overwrite=args.overwrite, manual_dir=args.manual_dir,
                       data_dir=args.data_dir)
    _print_test(metrics["test"], config.dataset)
    print(f"run folder: {out}")


def evaluate(args):
    from zoo import data, runs
    from zoo.evaluate import evaluate

    run = runs.read_json(pathlib.Path(args.run_dir) / runs.RUN_CONFIG)
    model = runs.load(args.run_dir)
    test = data.load(run["dataset"], "test", run["batch_size"],
                     binarization=run["binarization"], seed=run["seed"],
                     manual_dir=args.manual_dir, data_dir=args.data_dir)
    samples = args.samples or run["eval_samples"]
    _print_test(evaluate(model, test, samples=samples, seed=run["seed"]), run["dataset"])


def _print_test(metrics, dataset):
    print(f"test ELBO on {dataset}: {metrics['elbo_nats']:.2f} nats per example "
          f"(reconstruction {metrics['reconstruction_nats']:.2f}, KL {metrics['kl_nats']:.2f}; "
          f"{metrics['examples']} examples, {metrics['samples']} posterior samples each)")


def _parse_override(entry, text):
    from zoo.errors import OverrideError

    name, equals, value = text.partition("=")
    if not equals:
        raise OverrideError(f"--set takes KEY=VALUE, got '{text}'; e.g. --set hidden_units=512,256")
    return name, entry.field(name).parse(value)


def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an int >= 1, got '{text}'")
    return value


def _parser():
    parser = argparse.ArgumentParser(prog="zoo", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    listing = commands.add_parser("list", help="the registered models")
    listing.add_argument("-v", "--verbose", action="store_true", help="show each override")
    listing.set_defaults(command=list_models)

    training = commands.add_parser("train", help="train a model, print its test ELBO")
    training.add_argument("model", help="a name from `zoo list`")
    training.add_argument("--dataset", default="binarized_mnist",
                          help="binarized_mnist (default), mnist or fashion_mnist")
    training.add_argument("--binarization", choices=["static", "dynamic"],
                          help="for mnist and fashion_mnist (default dynamic)")
    training.add_argument("--epochs", type=_positive_int, default=10)
    training.add_argument("--batch-size", type=_positive_int, default=128)
    training.add_argument("--latent-dim", type=_positive_int)
    training.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="any other override, e.g. --set hidden_units=512,256 "
                               "(see `zoo list -v`)")
    training.add_argument("--seed", type=int, default=0)
    training.add_argument("--eval-samples", type=_positive_int, default=10,
                          help="posterior samples per test image for the ELBO (default 10)")
    training.add_argument("--out", help="run folder (default runs/MODEL-DATASET)")
    training.add_argument("--overwrite", action="store_true",
                          help="reuse an output folder that holds another run")
    _data_options(training)
    training.set_defaults(command=train)

    evaluation = commands.add_parser("eval", help="re-evaluate a saved run on the test split")
    evaluation.add_argument("run_dir")
    evaluation.add_argument("--samples", type=_positive_int,
                            help="posterior samples per image (default: the run's)")
    _data_options(evaluation)
    evaluation.set_defaults(command=evaluate)
    return parser


def _data_options(parser):
    parser.add_argument("--manual-dir", help="folder with the dataset's tfds source files, "
                                             "for machines without internet")
    parser.add_argument("--data-dir", help="tfds data folder (default: tfds's own)")


if __name__ == "__main__":
    sys.exit(main())
