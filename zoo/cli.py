"""The ``zoo`` command: list models, train one, re-evaluate, plot or export a run.

Every mistake a user can make ends in one line ``zoo: error: ...`` and exit status 2.
"""

import argparse
import pathlib
import sys


def main(argv=None):
    parser = _parser()
    args, unknown = parser.parse_known_args(argv)
    from zoo.errors import ZooError, did_you_mean

    if unknown:  # named in the command's own terms: `zoo train --epohcs 3`
        options = [option for action in args.parser._actions for option in action.option_strings]
        flag = next((word.split("=")[0] for word in unknown if word.startswith("-")), "")
        hint = did_you_mean(flag, options).strip() if flag else ""
        args.parser.error(f"unrecognized argument{'s' * (len(unknown) > 1)}: "
                          f"{' '.join(unknown)}" + (f" ({hint})" if hint else ""))

    stdout = sys.stdout
    if stdout is not None:  # (None under pythonw)
        sys.stdout = _LineEnds(stdout)
    try:
        if getattr(args, "cpu_replicas", 1) > 1:  # before anything starts TensorFlow's devices
            from zoo.devices import cpu_replicas
            cpu_replicas(args.cpu_replicas)
        if args.imports:
            from zoo import plugins
            for module in args.imports:
                plugins.import_module(module, "--import")
        return args.command(args)
    except ZooError as error:
        _end_line()
        parser.exit(2, f"zoo: error: {error}\n")
    except OSError as error:  # an output that cannot be written: /proc/x, under a file, ...
        _end_line()
        where = f"{error.filename}: " if error.filename else ""
        parser.exit(2, f"zoo: error: {where}{error.strerror or error}; pick a folder you can "
                       "write to\n")
    except KeyboardInterrupt as interrupt:  # a training run's says where it stopped
        _end_line()
        parser.exit(130, f"zoo: interrupted: {interrupt}\n" if str(interrupt) else
                    "zoo: interrupted; the output folder holds only finished files, and the "
                    "same command resumes a training run\n")
    finally:
        sys.stdout = stdout


def _end_line():
    if isinstance(sys.stdout, _LineEnds):
        sys.stdout.end_line()


class _LineEnds:
    """``sys.stdout`` as it is, remembering whether what was last written ended its line:
    a progress bar leaves its line open, and an error printed then would join it."""

    def __init__(self, stream):
        self._stream, self._open = stream, False

    def write(self, text):
        if text:
            self._open = not text.endswith("\n")
        return self._stream.write(text)

    def end_line(self):
        """Ends the line left open, so that what comes next starts a line of its own."""
        if self._open:
            self.write("\n")
            self._stream.flush()

    def __getattr__(self, name):
        return getattr(self._stream, name)


def list_models(args):
    from zoo import catalog

    if not args.pretrained and catalog.covers(args.imports):  # no TensorFlow needed
        models = catalog.models()
        width = _name_width(models)
        for name, entry in models.items():
            print(f"{name:{width}s} {entry['description']}")
            for described in entry["overrides"].values() if args.verbose else ():
                print(f"{'':{width + 2}s}{described}")
        return
    from zoo.models import list_models
    from zoo.models.registry import builder

    if args.pretrained:
        from zoo import pretrained, results

        entries = pretrained.entries()
        width = max(len(repr(entry.weights)) for entry in entries)
        names = _name_width([entry.builder for entry in entries])
        for entry in entries:
            result = results.row_of(pretrained.ROW_WEIGHTS / entry.filename) or {}
            print(f"{entry.builder:{names}s} weights={entry.weights!r:{width}s} "
                  f"{_row_figures(result)}; row {entry.row}")
        return
    models = list_models()
    width = _name_width(models)
    for name, description in models.items():
        print(f"{name:{width}s} {description}")
        if args.verbose:
            for field in builder(name).fields.values():
                print(f"{'':{width + 2}s}{field.describe()}")


def _name_width(names):
    """The column of model names: 12 characters, or the longest name's."""
    return max(12, max(map(len, names), default=0))


def _row_figures(result):
    """A row's headline figures for ``zoo list --pretrained``: its test -log p(x), else
    (a row without importance sampling, as on sprites) its -ELBO; its MIG if scored."""
    if not result:
        return "no result file here"
    from zoo import results

    test = results.best_test(result)
    if "log_likelihood_nats" in test:
        figures = (f"-log p(x) {-test['log_likelihood_nats']:.2f} nats "
                   f"(K = {test['log_likelihood_samples']})")
    elif "elbo_nats" in test:
        figures = f"-ELBO {-test['elbo_nats']:.2f} nats"
    else:  # an autoencoder's: no likelihood
        figures = f"reconstruction {test['reconstruction_nats']:.2f} nats (no ELBO)"
    if "log_likelihood_bits_per_dim" in test:
        figures += f", {test['log_likelihood_bits_per_dim']:.3f} bits/dim"
    if "disentanglement" in result:
        figures += f", MIG {result['disentanglement']['scores']['mig']['score']:.3f}"
    return figures


def _check_names(args):
    """A mistyped model or override name, said at once: from the catalog (zoo.catalog),
    before TensorFlow starts."""
    from zoo import catalog

    if catalog.covers(args.imports):
        keys = [text.partition("=")[0] for text in getattr(args, "set", []) if "=" in text]
        catalog.check(args.model, keys)


def train(args):
    _check_names(args)
    from zoo import datasets
    from zoo.models.registry import builder
    from zoo.config import RunConfig
    from zoo.train import train

    entry = builder(args.model)
    overrides = dict(_parse_override(entry, text) for text in args.set)
    if args.latent_dim is not None:  # checked with the others when the run is resolved
        overrides["latent_dim"] = args.latent_dim
    config = RunConfig(model=args.model, overrides=overrides, dataset=args.dataset,
                       binarization=args.binarization, epochs=args.epochs,
                       batch_size=args.batch_size, seed=args.seed,
                       eval_samples=args.eval_samples, kl_warmup_epochs=args.kl_warmup_epochs,
                       deterministic=args.deterministic,
                       jit_compile=args.jit_compile, mixed_precision=args.mixed_precision,
                       train_examples=args.train_examples,
                       eval_examples=args.eval_examples, image_size=args.image_size)
    out = pathlib.Path(args.out or pathlib.Path("runs") / f"{args.model}-"
                       f"{datasets.short_name(args.dataset)}")
    _, metrics = train(config, out, overwrite=args.overwrite, manual_dir=args.manual_dir,
                       data_dir=args.data_dir, callbacks=_picture_callbacks(args, out))
    _print_test(metrics["test"], config.dataset)
    print(f"run folder: {out}")


def _picture_callbacks(args, out):
    """The callbacks behind --animate and --tensorboard."""
    if not (args.animate or args.tensorboard):
        return []
    import tf_keras

    from zoo import plot

    title = f"{args.model} on {args.dataset}"
    callbacks = [plot.SampleGridAnimation(out / "samples.gif", seed=args.seed, title=title)
                 ] if args.animate else []
    if args.tensorboard:
        callbacks += [tf_keras.callbacks.TensorBoard(args.tensorboard),
                      plot.SampleGridSummary(args.tensorboard, seed=args.seed, title=title)]
    return callbacks


def tune(args):
    _check_names(args)
    from zoo.tune import tune

    result = tune(args.model, dataset=args.dataset, binarization=args.binarization,
                  tuner=args.tuner, max_trials=args.max_trials, epochs=args.epochs,
                  directory=args.dir, project=args.project, ranges=args.range,
                  seed=args.seed, overwrite=args.overwrite, manual_dir=args.manual_dir,
                  data_dir=args.data_dir, train_examples=args.train_examples,
                  eval_examples=args.eval_examples, image_size=args.image_size)
    if not result.trials:
        print("worker done: its trials are in the chief's summary")
        return
    print(result.summary())
    print(f"best recipe: {result.recipe_path} (run it with `zoo bench {result.recipe_path}`)")


def plot(args):
    from zoo import sources

    sources.kind(args.source, args.imports)  # a mistyped source: refused before TensorFlow
    from zoo import plot

    path = plot.from_run(args.kind, args.source, args.out, dims=args.dims,
                         dataset=args.dataset, image_size=args.image_size,
                         manual_dir=args.manual_dir, data_dir=args.data_dir,
                         sampler=args.sampler)
    print(f"wrote {path}")


def export(args):
    from zoo.sources import kind, resolve

    kind(args.source, args.imports)
    from zoo.export import export, signatures

    model = resolve(args.source, fitting=False).model  # (exporting reads no data)
    folder = export(model, args.out, overwrite=args.overwrite)
    print(f"wrote {folder}: a SavedModel with signatures {', '.join(signatures(model))} "
          "(tf.saved_model.load; no zoo needed)")


def evaluate(args):
    from zoo.sources import kind, resolve

    kind(args.source, args.imports)
    from zoo.errors import ConfigError

    if args.record and (args.dataset or args.image_size):
        raise ConfigError("--record keeps evaluations of the row's own data; drop --dataset "
                          "and --image-size")
    source = resolve(args.source, args.dataset, args.image_size, manual_dir=args.manual_dir,
                     data_dir=args.data_dir)
    run, row = source.settings, source.row
    if args.disentanglement:
        from zoo.disentanglement import check
        check(run["dataset"], args.metrics)
    elif args.metrics is not None or args.metric_points is not None:
        raise ConfigError("--metrics and --metric-points choose the disentanglement metrics; "
                          "add --disentanglement")
    if args.record and row is None:
        raise ConfigError("--record writes into a leaderboard row's result file: pass "
                          "benchmarks/weights/ROW.h5")
    if args.record and args.examples:
        raise ConfigError("--record keeps evaluations of the whole test split; drop --examples")
    if not args.generation and (args.generation_samples or args.features or args.samplers):
        raise ConfigError("--generation-samples, --features and --samplers set the "
                          "sample-quality evaluation; add --generation")
    if args.generation:  # what it cannot do: said before any evaluation is recorded
        from zoo.scoring import check_generation
        check_generation(source, args.features, args.samplers)
    # --disentanglement or --generation alone scores those only; a test setting asks for
    # the ELBO too
    alone = [name for name, asked in (("--disentanglement", args.disentanglement),
                                      ("--generation", args.generation)) if asked]
    if not alone or (args.record and not args.generation) or any(
            value is not None for value in (args.samples, args.examples, args.k)):
        _test_elbo(args, source)
    else:
        measure = "ELBO" if source.model.has_elbo else "reconstruction"  # (an autoencoder)
        print(f"(the test {measure} is not evaluated with {' and '.join(alone)} alone: `zoo "
              f"eval {args.source}` gives it)")
    if args.disentanglement:
        _disentanglement(args, source)
    if args.generation:
        _generation(args, source)


def _test_elbo(args, source):
    """The test ELBO of ``source``'s model (and -k's log p(x)), printed (recorded in its
    row's result file with --record: zoo.scoring.test_scores)."""
    from zoo.scoring import test_scores

    metrics, recorded = test_scores(source, examples=args.examples, samples=args.samples,
                                    log_likelihood_samples=args.k, record=args.record)
    run = source.settings
    _print_test(metrics, run["dataset"])
    if recorded:
        print(f"recorded in {recorded} and the leaderboard")
    if args.k is None and run.get("log_likelihood_samples"):
        print(f"(add -k {run['log_likelihood_samples']} for the run's importance-sampled "
              "log p(x))")


def _disentanglement(args, source):
    """The disentanglement metrics of ``source``'s model, printed (recorded in its run
    folder's disentanglement.json where it has one: zoo.scoring.disentanglement_scores)."""
    from zoo.disentanglement import table
    from zoo.scoring import disentanglement_scores

    scores, recorded = disentanglement_scores(source, args.metrics, args.metric_points)
    run = source.settings
    print(f"disentanglement on {run['dataset']} (seed {run['seed']}):")
    print("\n".join(table(scores)))
    if recorded:
        print(f"recorded in {recorded}")


def _generation(args, source):
    """FID and precision/recall of ``source``'s samples per sampler, printed (recorded in
    its run folder's generation.json: zoo.scoring.generation_scores)."""
    from zoo.scoring import generation_scores

    _, recorded = generation_scores(source, n=args.generation_samples or 10_000,
                                    network=args.features, record=args.record,
                                    kinds=args.samplers)
    if recorded:
        print(f"recorded in {recorded}")


def bench(args):
    from zoo import bench, results

    if args.leaderboard:
        print(results.leaderboard(args.benchmarks), end="")
        return
    if args.recipe is None:
        from zoo.errors import ConfigError
        raise ConfigError("name a recipe file, e.g. `zoo bench recipes/mlp_vae.toml`, or pass "
                          "--leaderboard")
    result = bench.run(args.recipe, args.benchmarks, manual_dir=args.manual_dir,
                       data_dir=args.data_dir, overwrite=args.overwrite,
                       metric_points=args.metric_points)
    _print_test(result["test"], result["recipe_contents"]["dataset"])
    if "disentanglement" in result:
        from zoo.disentanglement import table
        print("\n".join(table(result["disentanglement"]["scores"])))
    print(f"result file: {pathlib.Path(args.benchmarks) / 'results' / result['recipe']}.json")


def _print_test(metrics, dataset):
    if "no_likelihood" in metrics:  # an autoencoder's point-mass codes
        print(f"test reconstruction on {dataset}: {metrics['reconstruction_nats']:.2f} nats "
              f"per example ({metrics['examples']} examples); {metrics['no_likelihood']}")
    else:
        print(f"test ELBO on {dataset}: {metrics['elbo_nats']:.2f} nats per example "
              f"(reconstruction {metrics['reconstruction_nats']:.2f}, KL "
              f"{metrics['kl_nats']:.2f}; {metrics['examples']} examples, "
              f"{metrics['samples']} posterior samples each)")
    if "log_likelihood_nats" in metrics:
        print(f"test log p(x) on {dataset}: {metrics['log_likelihood_nats']:.2f} nats per "
              f"example (importance-sampled, K = {metrics['log_likelihood_samples']})")
        if "log_likelihood_note" in metrics:
            print(f"  ({metrics['log_likelihood_note']})")
    if "elbo_bits_per_dim" in metrics:
        bits = [f"-ELBO {metrics['elbo_bits_per_dim']:.4f}"]
        if "log_likelihood_bits_per_dim" in metrics:
            bits.append(f"-log p(x) {metrics['log_likelihood_bits_per_dim']:.4f}")
        print(f"in bits per dimension: {', '.join(bits)}")
    if "objective_metrics" in metrics:
        print(f"the objective's own metrics on {dataset}: " + ", ".join(
            f"{name} {value:.4g}" for name, value in metrics["objective_metrics"].items()))


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


def _non_negative_int(text):
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"expected an int >= 0, got '{text}'")
    return int(text)


def _names(text):
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"expected names separated by commas, got '{text}'")
    return names


def _two_ints(text):
    try:
        first, second = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two ints such as 0,1, got '{text}'")
    return first, second


class _Parser(argparse.ArgumentParser):
    """argparse with the zoo's one-line errors: no usage block, a pointer to --help."""

    def error(self, message):
        self.exit(2, f"zoo: error: {message}; see `{self.prog} --help`\n")


class _DefaultsOnce(argparse.ArgumentDefaultsHelpFormatter):
    """Every option's default in its help, once: the help's own "(default: ...)" where it
    words one (the run's, tfds's own), else argparse's value."""

    def _get_help_string(self, action):
        if "(default:" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


BINARIZATION_HELP = ("for mnist and fashion_mnist; none keeps the grey levels (None: static "
                     "for binarized_mnist; for mnist and fashion_mnist dynamic, or none under "
                     "a likelihood other than bernoulli)")


SOURCE_HELP = ("a run folder of `zoo train`, a zoo.save folder, a .keras file, a leaderboard "
               "row's benchmarks/weights/ROW.h5, or a pretrained MODEL:WEIGHTS "
               "(`zoo list --pretrained`)")
DATASET_HELP = ("the dataset to use (default: the run's or row's; for a model saved without "
                "one, binarized_mnist, or sprites for a 64x64 model)")


def _model_and_data(command):
    """The options ``zoo train`` and ``zoo tune`` share: the model and its dataset."""
    command.add_argument("model", help="a name from `zoo list`")
    command.add_argument("--dataset", default="binarized_mnist",
                         help="binarized_mnist, mnist, fashion_mnist, sprites (64x64 shapes "
                              "of known factors, drawn here), any tfds dataset with an image "
                              "feature by tfds's name (cifar10, NAME:VERSION, NAME/CONFIG), or "
                              "a folder of images (one subfolder a class, or none)")
    _image_size(command, "as stored")
    command.add_argument("--binarization", choices=["static", "dynamic", "none"],
                         help=BINARIZATION_HELP)


def _image_size(command, default):
    command.add_argument("--image-size", metavar="H[,W]",
                         help="resize the images to H x W (H,H for one number): each is "
                              f"centre-cropped to that aspect ratio, then resized (default: "
                              f"{default})")


def _examples(command, train_help, eval_help):
    """``--train-examples`` and ``--eval-examples``, as ``command`` uses them."""
    command.add_argument("--train-examples", type=_non_negative_int, default=0, metavar="N",
                         help=train_help)
    command.add_argument("--eval-examples", type=_non_negative_int, default=0, metavar="N",
                         help=eval_help)


def _parser():
    parser = _Parser(prog="zoo", description=__doc__.split("\n")[0].replace("``", ""))
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="MODULE",
                        help="import MODULE first, so that the models it registers "
                             "(@zoo.register) reach the command; repeatable; from PYTHONPATH "
                             "or the current folder (installed plugins and $ZOO_PLUGINS are "
                             "imported anyway)")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    add_parser = commands.add_parser

    def add_command(*args, **kwargs):  # every command's --help shows the defaults
        command = add_parser(*args, formatter_class=_DefaultsOnce, **kwargs)
        command.set_defaults(parser=command)  # errors found after parsing point to its --help
        return command

    commands.add_parser = add_command

    listing = commands.add_parser("list", help="the registered models")
    listing.add_argument("-v", "--verbose", action="store_true", help="show each override")
    listing.add_argument("--pretrained", action="store_true",
                         help="the models with trained weights (zoo.get(NAME, weights=...)) "
                              "and their test -log p(x)")
    listing.set_defaults(command=list_models)

    training = commands.add_parser("train", help="train a model, print its test ELBO")
    _model_and_data(training)
    training.add_argument("--epochs", type=_positive_int, default=10,
                          help="epochs to train; more than a finished run in --out has "
                               "trained continues it")
    training.add_argument("--batch-size", type=_positive_int,
                          help="examples per batch, global (over all replicas) (default: "
                               "128, or Keras's 32 for a dataset the zoo does not name trained "
                               "on fewer than 12,800 images)")
    _examples(training, "train on the first N examples of the train split (a quick run, a "
                        "learning curve; 0: all)",
              "validate and test on the first N examples of the validation and test splits "
              "(a quick run; 0: all)")
    training.add_argument("--latent-dim", type=_positive_int,
                          help="size of the code z (None: the model's default)")
    training.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                          help="any other override, e.g. --set hidden_units=512,256 "
                               "(see `zoo list -v`)")
    training.add_argument("--seed", type=int, default=0,
                          help="seed of the weights, data order and posterior noise")
    training.add_argument("--eval-samples", type=_positive_int, default=10,
                          help="posterior samples per test image for the ELBO")
    training.add_argument("--kl-warmup-epochs", type=_non_negative_int, default=0,
                          help="raise the KL weight from 0 to beta over these epochs, step "
                               "by step (0: off). The progress bar's loss is the objective "
                               "(beta and warm-up included); neg_elbo = reconstruction + kl "
                               "is the bound itself")
    training.add_argument("--deterministic", action="store_true",
                          help="TensorFlow's deterministic ops: bit-identical numbers for "
                               "the same seed, also across processes")
    training.add_argument("--jit-compile", action="store_true",
                          help="compile the training step with XLA")
    training.add_argument("--mixed-precision", action="store_true",
                          help="the networks compute in bfloat16 (float32 weights), the "
                               "distributions and objective in float32, where the machine "
                               "computes bfloat16 natively; float16 with loss scaling on a "
                               "GPU of compute capability 7.x; else float32; said in one line")
    _replica_option(training)
    training.add_argument("--out", help="run folder (None: runs/MODEL-DATASET)")
    training.add_argument("--overwrite", action="store_true",
                          help="reuse an output folder that holds another run, or train "
                               "a finished run anew (an unfinished one resumes)")
    training.add_argument("--animate", action="store_true",
                          help="write OUT/samples.gif, the samples grid after every epoch")
    training.add_argument("--tensorboard", metavar="DIR",
                          help="log loss, reconstruction, KL and the samples grid to DIR")
    _data_options(training)
    training.set_defaults(command=train)

    tuning = commands.add_parser("tune", help="search a model's hyperparameters with "
                                              "keras-tuner")
    _model_and_data(tuning)
    tuning.add_argument("--tuner", default="random", help="random, bayesian or hyperband")
    tuning.add_argument("--max-trials", type=int, default=10,
                        help="trials for random and bayesian")
    tuning.add_argument("--epochs", type=int, default=5,
                        help="epochs per trial; hyperband's largest budget")
    _examples(tuning, "every trial trains on the first N training images (0: all); the best "
                      "recipe keeps it",
              "every trial is judged on the first N validation images (0: all); the best "
              "recipe keeps it")
    tuning.add_argument("--range", action="append", default=[], metavar="NAME=LOW:HIGH",
                        help="search only what the --range options name (None: the model's "
                             "whole space and batch_size): NAME=LOW:HIGH, NAME='A|B', or "
                             "NAME alone for the model's own range, e.g. --range "
                             "latent_dim=8:32 --range hidden_units='512,256|1024,512' "
                             "--range learning_rate")
    tuning.add_argument("--dir", default="tuning", help="search folder; run again to resume")
    tuning.add_argument("--project", help="sub-folder (None: MODEL-DATASET)")
    tuning.add_argument("--seed", type=int, default=0,
                        help="seed of every trial's weights, data order and posterior noise, "
                             "and of the tuner's draws")
    tuning.add_argument("--overwrite", action="store_true",
                        help="discard the search already in the folder")
    _replica_option(tuning)
    _data_options(tuning)
    tuning.set_defaults(command=tune)

    plotting = commands.add_parser("plot", help="draw a saved model as a PNG")
    plotting.add_argument("kind", choices=["samples", "recon", "manifold", "latent",
                                           "traverse", "interpolate"])
    plotting.add_argument("source", metavar="MODEL", help=SOURCE_HELP)
    plotting.add_argument("--out", help="PNG file (None: FOLDER/KIND.png for a folder, else "
                                        "NAME-KIND.png here)")
    plotting.add_argument("--dataset", help=DATASET_HELP)
    _image_size(plotting, "the run's or row's, else as stored")
    plotting.add_argument("--sampler", choices=["prior", "gmm", "flow", "two_stage"],
                          help="samples: the codes' sampler (default prior; the others are "
                               "fitted on the training codes and kept beside the model)")
    plotting.add_argument("--dims", type=_two_ints,
                          help="manifold: the two latent dimensions to sweep, e.g. 0,3")
    _data_options(plotting)
    plotting.set_defaults(command=plot)

    evaluation = commands.add_parser("eval", help="evaluate a saved model on the test split")
    evaluation.add_argument("source", metavar="MODEL", help=SOURCE_HELP)
    evaluation.add_argument("--dataset", help=DATASET_HELP)
    _image_size(evaluation, "the run's or row's, else as stored")
    evaluation.add_argument("--samples", type=_positive_int,
                            help="posterior samples per image (default: the run's)")
    evaluation.add_argument("--examples", type=_non_negative_int, metavar="N",
                            help="evaluate the first N test examples (default: the run's "
                                 "eval_examples; 0: all)")
    evaluation.add_argument("-k", "--log-likelihood-samples", dest="k", type=_positive_int,
                            help="also estimate log p(x) with K importance samples per "
                                 "image (benchmark rows use 5000)")
    evaluation.add_argument("--disentanglement", action="store_true",
                            help="the disentanglement metrics on the dataset's known factors "
                                 "(sprites), recorded in a run folder's disentanglement.json; "
                                 "alone, without the test ELBO (--examples, --samples or -k "
                                 "add it)")
    evaluation.add_argument("--metrics", type=_names, metavar="NAME,...",
                            help="with --disentanglement: only these metrics (beta_vae, "
                                 "factor_vae, mig, dci, sap, modularity; default all six)")
    evaluation.add_argument("--metric-points", type=_positive_int, metavar="N",
                            help="the disentanglement metrics' training points, half as many "
                                 "to evaluate (default 10000, disentanglement_lib's; fewer "
                                 "for a quick look)")
    evaluation.add_argument("--generation", action="store_true",
                            help="sample quality: FID and precision/recall (k=3) of the "
                                 "model's samples, from the prior and from a Gaussian mixture "
                                 "fitted on its training codes, against the test split; "
                                 "recorded in a run folder's generation.json (a row's result "
                                 "file with --record); alone, without the test ELBO")
    evaluation.add_argument("--generation-samples", type=_positive_int, metavar="N",
                            help="with --generation: samples per sampler (default 10000)")
    evaluation.add_argument("--samplers", type=_names, metavar="NAME,...",
                            help="with --generation: the samplers (prior, gmm, flow, "
                                 "two_stage; default prior,gmm)")
    evaluation.add_argument("--features", metavar="NAME",
                            help="with --generation: the feature network, classifier:DATASET "
                                 "or inception (default: the dataset's classifier)")
    evaluation.add_argument("--record", action="store_true",
                            help="write this evaluation into the row's result file and "
                                 "regenerate the leaderboard (a row's weights file only)")
    _data_options(evaluation)
    evaluation.set_defaults(command=evaluate)

    exporting = commands.add_parser("export", help="write a saved run as a TensorFlow "
                                                   "SavedModel for serving")
    exporting.add_argument("source", metavar="MODEL", help=SOURCE_HELP)
    exporting.add_argument("out", help="the SavedModel folder to write")
    exporting.add_argument("--overwrite", action="store_true",
                           help="replace an earlier export in OUT")
    exporting.set_defaults(command=export)

    benchmark = commands.add_parser("bench", help="run a recipe, write its result file and "
                                                  "the leaderboard")
    benchmark.add_argument("recipe", nargs="?", help="a recipe file, e.g. recipes/mlp_vae.toml")
    benchmark.add_argument("--leaderboard", action="store_true",
                           help="only regenerate LEADERBOARD.md from the result files")
    benchmark.add_argument("--benchmarks", default="benchmarks",
                           help="folder for results/, weights/ and LEADERBOARD.md")
    benchmark.add_argument("--overwrite", action="store_true",
                           help="replace the weights of an earlier run of another recipe")
    benchmark.add_argument("--metric-points", type=_positive_int, metavar="N",
                           help="a sprites row's disentanglement metrics with N training "
                                "points, half as many to evaluate (default 10000, "
                                "disentanglement_lib's)")
    _replica_option(benchmark)
    _data_options(benchmark)
    benchmark.set_defaults(command=bench)
    return parser


def _replica_option(parser):
    parser.add_argument("--cpu-replicas", type=_positive_int, default=1, metavar="N",
                        help="split the CPU into N devices and train on N mirrored replicas, "
                             "as on N GPUs: a rehearsal of multi-GPU training (the numbers "
                             "are one device's)")


def _data_options(parser):
    parser.add_argument("--manual-dir", help="folder with the dataset's tfds source files, "
                                             "for machines without internet")
    parser.add_argument("--data-dir", help="tfds data folder (default: tfds's own)")


def run():
    """The ``zoo`` command (its console script, and ``python -m zoo.cli``): ``main`` in a
    process of its own, which starts without Keras 3 (``zoo.quiet.legacy_keras``)."""
    from zoo import quiet

    quiet.legacy_keras()
    sys.exit(main())


if __name__ == "__main__":
    run()
