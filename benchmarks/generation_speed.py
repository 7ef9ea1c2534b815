"""How long sample quality takes: in-domain FID and precision/recall of 10,000 samples of a
28x28 model, and InceptionV3's features per 10,000 images, on this machine.

    python benchmarks/generation_speed.py [--manual-dir ../shared/datasets]
        [--inception-images 500] [--out benchmarks/results/generation-speed-cpu.json]

(1) ``mlp_vae:fashion_mnist`` (the leaderboard row): 10,000 prior samples drawn, the
in-domain classifier's features of them and of the 10,000 test images, FID and precision/
recall (k = 3), each step timed (the GMM's fitting, a once-per-model cost kept in a run
folder, is timed apart). (2) InceptionV3 (``zoo.features.inception_network``, built without
its ImageNet weights here: the same computation as with them) on ``--inception-images``
28x28 images through the zoo's own resizing to 299x299, timed and scaled to 10,000.
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
    parser.add_argument("--manual-dir")
    parser.add_argument("--inception-images", type=int, default=500)
    parser.add_argument("--out", type=pathlib.Path,
                        default=HERE / "results" / "generation-speed-cpu.json")
    args = parser.parse_args(argv)
    from zoo import quiet

    quiet.legacy_keras()
    import numpy as np

    import zoo
    from zoo import data, features, sample_quality, samplers

    from zoo import provenance

    started, environment = time.time(), provenance.environment()
    seconds = {}

    def timed(name, work):
        begun = time.time()
        value = work()
        seconds[name] = time.time() - begun
        return value

    model = zoo.get("mlp_vae", weights="fashion_mnist")
    test = np.concatenate([x for x, _ in data.load("fashion_mnist", "test", 500,
                                                   binarization="none",
                                                   manual_dir=args.manual_dir)])
    _, extract = features.network("classifier:fashion_mnist")
    made = timed("draw 10,000 prior samples", lambda: np.concatenate(
        [np.asarray(model.sample(500, seed=(0, start))) for start in range(0, 10_000, 500)]))
    real = timed("classifier features of the 10,000 test images",
                 lambda: features.features_of(extract, test))
    fake = timed("classifier features of the 10,000 samples",
                 lambda: features.features_of(extract, made))
    fid = timed("FID", lambda: sample_quality.frechet_distance(real, fake))
    recall = timed("precision and recall (k = 3)",
                   lambda: sample_quality.precision_recall(real, fake))
    in_domain = sum(seconds.values())
    train = data.load("fashion_mnist", "train", 500, binarization="dynamic", shuffle=False,
                      manual_dir=args.manual_dir)
    timed("fit the GMM on the 50,000 training codes (once per model)",
          lambda: samplers.fit("gmm", model, train))
    inception = features.inception_network(weights=None)
    images = test[:args.inception_images]
    features.features_of(inception, images[:50], batch_size=50)  # built and traced
    timed("inception", lambda: features.features_of(inception, images, batch_size=50))
    per_10k = seconds.pop("inception") * 10_000 / len(images)
    result = {"model": "mlp_vae:fashion_mnist", "samples": 10_000, "seconds": seconds,
              "in_domain_seconds": in_domain, "fid": fid, "precision_recall": recall,
              "inception_images": len(images), "inception_seconds_per_10000": per_10k}
    throughput.write_result(args.out, result, started, environment)
    for name, value in seconds.items():
        print(f"{name}: {value:.1f} s")
    print(f"in-domain FID and precision/recall of 10,000 samples: {in_domain:.1f} s; "
          f"InceptionV3 features: {per_10k / 60:.1f} min per 10,000 images "
          f"(measured on {len(images)}); wrote {args.out}")


if __name__ == "__main__":
    main()
