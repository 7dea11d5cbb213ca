#!/bin/sh
# Compiles every operation's .cu in this folder into one fatbin: cubins for sm_80 and sm_90, PTX for newer chips; and
# a second one (<output>_sm90a.fatbin) with an sm_90a cubin, whose wgmma kernels run on compute capability 9.0 only.
# Usage: build-fatbin.sh <nvcc> <output.fatbin> <work dir>. Called by the kernels module's `cuda` Maven profile.
set -eu
nvcc="$1"
out="$2"
src="$(cd "$(dirname "$0")" && pwd)"
work="$3"
mkdir -p "$work" "$(dirname "$out")"
out90a="${out%.fatbin}_sm90a.fatbin"
if [ -f "$out" ] && [ -f "$out90a" ] && [ -z "$(find "$src" \( -name '*.cu' -o -name '*.cuh' -o -name '*.sh' \) -newer "$out")" ]; then
  echo "nvcc: $out is up to date"
  exit 0
fi
unit="$work/mamba_kernels_all.cu"
: > "$unit"
for f in "$src"/*.cu; do
  echo "#include \"$f\"" >> "$unit"
done
"$nvcc" -fatbin -O3 -std=c++17 --threads 0 -I"$src" \
  -gencode arch=compute_80,code=sm_80 \
  -gencode arch=compute_90,code=sm_90 \
  -gencode arch=compute_90,code=compute_90 \
  -o "$out.tmp" "$unit"
"$nvcc" -fatbin -O3 -std=c++17 --threads 0 -I"$src" -gencode arch=compute_90a,code=sm_90a -o "$out90a" "$unit"
mv "$out.tmp" "$out"
echo "nvcc: built $out and $(basename "$out90a") from $(ls "$src"/*.cu | wc -l) kernel files"
