#!/usr/bin/env bash
# Host side of the GPU run (benchmarks/gpu/README.md): publishes the benchmarks self-contained with ONNX Runtime's CUDA
# package and packs them with what the device needs to make the random-weight models (the makers, diffusers' source,
# the CLIP tokenizer), as parts small enough for one device call each.
#
#   DIFFUSERS_ROOT=/tmp/diffusers benchmarks/gpu/prepare-bundle.sh      # parts in artifacts/gpu/part-NN
#
# ORT_NATIVE=Microsoft.ML.OnnxRuntime makes a CPU bundle, which is how the scripts are checked on a machine without a GPU.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
DIFFUSERS_ROOT=${DIFFUSERS_ROOT:?set DIFFUSERS_ROOT to a diffusers source tree with src/ and scripts/}
NATIVE=${ORT_NATIVE:-Microsoft.ML.OnnxRuntime.Gpu.Linux}
OUT=$ROOT/artifacts/gpu          # ignored by git; the device call carries the parts from here
PART_MIB=${PART_MIB:-60}         # a device call carries at most 64 MiB

rm -rf "$OUT"
STAGE=$OUT/stage
mkdir -p "$STAGE/tools/realsize" "$STAGE/tools/diffusers-reference" "$STAGE/diffusers" "$STAGE/config/sd15" "$STAGE/config/sdxl"

dotnet publish "$ROOT/benchmarks/Diffusion.Core.Benchmarks" -c Release -r linux-x64 --self-contained \
  -p:PublishTrimmed=false -p:OnnxRuntimeNative="$NATIVE" -o "$STAGE/app" > "$OUT/publish.log"
rm -f "$STAGE/app/libonnxruntime_providers_tensorrt.so" # TensorRT is not used; one part less to send

cp "$SHARED/tools/realsize/make_random_sd15.py" "$ROOT/benchmarks/realsize/make_random_sdxl.py" "$STAGE/tools/realsize/"
cp "$SHARED/tools/diffusers-reference/stand_ins.py" "$STAGE/tools/diffusers-reference/"
# The SD 1.5 maker (shared, read-only) fixes 2 threads; the device has 16 cores, so this copy takes REALSIZE_THREADS.
sed -i 's/^torch.set_num_threads(2)$/torch.set_num_threads(int(os.environ.get("REALSIZE_THREADS", "2")))/' "$STAGE/tools/realsize/make_random_sd15.py"
cp -r "$DIFFUSERS_ROOT/src" "$DIFFUSERS_ROOT/scripts" "$STAGE/diffusers/"
find "$STAGE/diffusers" -name __pycache__ -prune -exec rm -rf {} +
for folder in sd15/tokenizer sdxl/tokenizer sdxl/tokenizer_2; do
  mkdir -p "$STAGE/config/$folder"
  cp "$SHARED/models/clip-tokenizer/vocab.json" "$SHARED/models/clip-tokenizer/merges.txt" "$STAGE/config/$folder/"
done

tar -C "$STAGE" -cf - . | xz -T0 -6 > "$OUT/bundle.tar.xz"
rm -rf "$STAGE"
split -b "${PART_MIB}M" -d "$OUT/bundle.tar.xz" "$OUT/part-"
rm "$OUT/bundle.tar.xz"
ls -l "$OUT"/part-*
echo "$(ls "$OUT"/part-* | wc -l) parts; send them in order with benchmarks/gpu/run-on-device.sh append (README.md)"
