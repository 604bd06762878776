#!/usr/bin/env bash
# Device side of the GPU run (benchmarks/gpu/README.md). Two modes:
#   benchmarks/gpu/run-on-device.sh append artifacts/gpu/part-NN   # one device call per part, in order (part-00 starts afresh)
#   benchmarks/gpu/run-on-device.sh run                             # unpack, make the random-weight models, time them
# "run" makes real-size SD 1.5 and SDXL base checkpoints with random weights (timing does not depend on the weights),
# then times whole generations with the benchmarks' realsize verb: SD 1.5 at 512² for 50 steps, SDXL at 1024² for 30,
# CFG, two runs each (the second is the steady one). Results go to $OUT (the device tool's returned folder), else
# ./gpu-results: one log per model plus nvidia-smi's view, written as each finishes so a cut-off run keeps what it did.
# Knobs: PROVIDER (cuda), MODELS ("sd15 sdxl"), SD15_STEPS/SD15_SIZE (50/512), SDXL_STEPS/SDXL_SIZE (30/1024), RUNS (2),
# PYTHON (python3), REALSIZE_THREADS (every core).
set -euo pipefail
BUNDLE=$HOME/diffusion-gpu-bundle.tar.xz
WORK=$HOME/diffusion-gpu

case "${1:-}" in
  append)
    part=${2:?append needs the path of a part}
    [[ $part == *-00 ]] && rm -f "$BUNDLE"
    cat "$part" >> "$BUNDLE"
    echo "bundle now $(stat -c %s "$BUNDLE") bytes"
    exit 0 ;;
  run) ;;
  *) echo "usage: $0 append PART | run" >&2; exit 2 ;;
esac

RESULTS=${OUT:-$PWD/gpu-results}
mkdir -p "$RESULTS"
PYTHON=${PYTHON:-python3}
PROVIDER=${PROVIDER:-cuda}
RUNS=${RUNS:-2}
export REALSIZE_THREADS=${REALSIZE_THREADS:-$(nproc)}

rm -rf "$WORK" && mkdir -p "$WORK/models"
start=$(date +%s)
xz -dc "$BUNDLE" | tar -C "$WORK" -xf -
echo "unpacked in $(( $(date +%s) - start )) s" | tee "$RESULTS/timeline.txt"

if [[ $PROVIDER == cuda* ]]; then
  # The CUDA user-space libraries ship in the Python packages (nvidia-cublas, nvidia-cudnn-cu13, ...).
  nvidia_root=$("$PYTHON" -c "import nvidia; print(list(nvidia.__path__)[0])")
  for lib in "$nvidia_root"/*/lib; do LD_LIBRARY_PATH=$lib:${LD_LIBRARY_PATH:-}; done
  export LD_LIBRARY_PATH
  nvidia-smi > "$RESULTS/nvidia-smi.txt" 2>&1 || true
fi

export DIFFUSERS_ROOT=$WORK/diffusers SHARED_TOOLS=$WORK/tools REALSIZE_OUT=$WORK/models
bench() { "$WORK/app/Diffusion.Core.Benchmarks" --provider "$PROVIDER" realsize "$@"; }

for model in ${MODELS:-sd15 sdxl}; do
  case $model in
    sd15) maker=make_random_sd15.py; file=sd15_random.safetensors; size=${SD15_SIZE:-512}; steps=${SD15_STEPS:-50} ;;
    sdxl) maker=make_random_sdxl.py; file=sdxl_random.safetensors; size=${SDXL_SIZE:-1024}; steps=${SDXL_STEPS:-30} ;;
    *) echo "unknown model $model (sd15, sdxl)" >&2; exit 2 ;;
  esac
  t=$(date +%s)
  "$PYTHON" "$WORK/tools/realsize/$maker" > "$RESULTS/$model-make.log" 2>&1
  echo "$model: checkpoint made in $(( $(date +%s) - t )) s" | tee -a "$RESULTS/timeline.txt"
  rm -f "$WORK/models/unet_state_fp32.pt" # the SD 1.5 maker's by-product for ONNX export; not used here
  t=$(date +%s)
  bench --checkpoint "$WORK/models/$file" --config "$WORK/config/$model" --size "$size" --steps "$steps" --runs "$RUNS" \
    2>&1 | grep -v "CleanUnusedInitializers" | tee "$RESULTS/$model.txt"
  echo "$model: ${size}², $steps steps, $RUNS runs in $(( $(date +%s) - t )) s" | tee -a "$RESULTS/timeline.txt"
  rm -f "$WORK/models/$file"
done
grep -H "^run\|^load" "$RESULTS"/*.txt | grep -v timeline || true
