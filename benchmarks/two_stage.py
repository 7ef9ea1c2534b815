"""What the two-stage sampler (Dai & Wipf 2019; ``zoo.samplers.TwoStage``) was tried with, on
one (unconditional) leaderboard row's codes, against the prior and the Gaussian mixture.

    python benchmarks/two_stage.py [--row mlp_vae_fashion_mnist] [--manual-dir DIR]
        [--out benchmarks/results/tried/two-stage-ROW.json]

The row's model encodes the first 50,000 training images (``zoo.generation.SAMPLER_IMAGES``)
as the samplers are fitted; each variant's second stage is fitted with
``TwoStage.fit`` (seed 0) and scored as ``zoo.generation`` scores a sampler (10,000 images,
in-domain features, seed 0): its KL (nats per code: how much it uses its latent u),
seconds to fit, FID, precision and recall. Variants: codes as posterior means (as the GMM
takes them) unstandardised, 20 epochs (the sampler before standardising); standardised per
dimension, 20 epochs, 100 epochs (``zoo.samplers``' choice), 100 epochs with a KL
warm-up over 20; and one posterior draw per image (Dai & Wipf's and pythae's input), 20 epochs.
"""

import argparse
import importlib
import pathlib
import sys
import time

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # this checkout's zoo
sys.path.insert(0, str(HERE))  # throughput.py's result files
import throughput  # noqa: E402  (after the paths; imports no TensorFlow)

VARIANTS = {  # name: (codes, TwoStage.fit keywords)
    "means, unstandardised, 20 epochs": ("means", {"standardise": False, "epochs": 20}),
    "means, standardised, 20 epochs": ("means", {"epochs": 20}),
    "means, standardised, 100 epochs": ("means", {"epochs": 100}),
    "means, standardised, 100 epochs, KL warm-up 20": (
        "means", {"epochs": 100, "kl_warmup_epochs": 20}),
    "posterior draws, 20 epochs": ("draws", {"epochs": 20}),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--row", default="mlp_vae_fashion_mnist")
    parser.add_argument("--manual-dir")
    parser.add_argument("--out", type=pathlib.Path)
    args = parser.parse_args(argv)
    from zoo import quiet

    quiet.legacy_keras()
    import numpy as np

    from zoo import data, datasets, provenance, samplers, sources

    generation = importlib.import_module("zoo.generation")  # (zoo.generation: the function)
    started, environment = time.time(), provenance.environment()
    source = sources.resolve(str(HERE / "weights" / f"{args.row}.h5"),
                             manual_dir=args.manual_dir)
    model, run = source.model, source.settings
    spec = datasets.spec(run["dataset"], manual_dir=args.manual_dir)
    first = min(data.examples_in(spec, "train", args.manual_dir), generation.SAMPLER_IMAGES)
    train = data.load(spec, "train", 500, binarization=run["binarization"], shuffle=False,
                      first=first, manual_dir=args.manual_dir)
    codes = {"means": samplers.codes_of(model, train),
             "draws": np.concatenate([np.asarray(model.encode(x, seed=(0, index)))
                                      for index, (x, _) in enumerate(train)])}
    fitted = generation.fit_samplers(model, spec, ["prior", "gmm"], 0, run["binarization"],
                                     args.manual_dir)
    for name, (kind, keywords) in VARIANTS.items():
        begun = time.time()
        fitted[name] = samplers.TwoStage.fit(codes[kind], seed=0, **keywords)
        fitted[name].fitted["seconds"] = time.time() - begun
    scored = generation.generation(model, spec, list(fitted), seed=0, fitted=fitted,
                                   manual_dir=args.manual_dir, verbose=0)
    result = {"row": args.row, "codes": first, "features": scored["features"],
              "n": scored["n"], "variants": {}}
    for name, scores in scored["samplers"].items():
        found = {key: scores[key] for key in ("fid", "precision", "recall")}
        if name in VARIANTS:
            found.update({key: fitted[name].fitted[key] for key in ("kl", "seconds")},
                         codes=VARIANTS[name][0])
        result["variants"][name] = found
        used = f", KL {found['kl']:.2f} nats" if "kl" in found else ""
        print(f"{name}: FID {found['fid']:.2f}, precision {found['precision']:.3f}, recall "
              f"{found['recall']:.3f}{used}")
    out = args.out or HERE / "results" / "tried" / f"two-stage-{args.row}.json"
    throughput.write_result(out, result, started, environment)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
