#!/usr/bin/env bash
# Builds an alternative sm_90a fatbin from a modified copy of kernels/src/main/cuda, for side-by-side runs of two kernel
# builds in one device call (run.sh's FATBIN_DIR puts it ahead of kernels.jar on the classpath, so the engine on a
# compute capability 9.0 device loads it instead of the jar's; other devices load mamba.fatbin, which this leaves out).
#   kernels/gpu/alt-fatbin.sh <source dir> <name>   ->  .gpu/<name>/io/mambaflink/kernels/cuda/mamba_sm90a.fatbin
# e.g. cp -r kernels/src/main/cuda /tmp/alt && (edit /tmp/alt/ssm1_update.cu) && kernels/gpu/alt-fatbin.sh /tmp/alt alt1,
# then on the GPU machine: FATBIN_DIR=.gpu/alt1 bash kernels/gpu/run.sh bench (after a run without it).
# Run after prepare.sh (which empties .gpu/).
set -euo pipefail
src="$(cd "$1" && pwd)"
cd "$(dirname "$0")/../.."
dst=".gpu/$2/io/mambaflink/kernels/cuda"
mkdir -p "$dst"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
unit="$work/unit.cu"
for f in "$src"/*.cu; do echo "#include \"$f\""; done > "$unit"
# the sm_90a half of build-fatbin.sh
nvcc -fatbin -O3 -std=c++17 --threads 0 -I"$src" -gencode arch=compute_90a,code=sm_90a -o "$dst/mamba_sm90a.fatbin" "$unit"
echo "built $dst/mamba_sm90a.fatbin from $src"
