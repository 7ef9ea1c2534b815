#!/usr/bin/env bash
# The zoo on a machine with GPUs, in under 8 minutes on one: strategies against one device,
# XLA against plain, mlp_vae and cnn_vae throughput (benchmarks/gpu_check.py says what each
# check is). Writes benchmarks/results/gpu-check.json. Run from a checkout with the zoo
# installed (pip install -e ".[test]"); ZOO_MANUAL_DIR (or ../shared/datasets beside the
# checkout) holds the tfds source files where the machine cannot download them.
set -euo pipefail
cd "$(dirname "$0")/.."
manual_dir=${ZOO_MANUAL_DIR:-../shared/datasets}
timeout 470 python benchmarks/gpu_check.py --manual-dir "$manual_dir" "$@"
