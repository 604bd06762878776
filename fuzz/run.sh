#!/usr/bin/env bash
# Coverage-guided fuzzing of one target with SharpFuzz + AFL++ (Debian's afl++ package).
#   fuzz/run.sh TARGET SECONDS [WORKDIR]
# Builds fuzz/Diffusion.Fuzzing, instruments Diffusion.Core, Diffusion.Imaging.Skia, Diffusion.Hub and Diffusion.Server with the sharpfuzz tool,
# runs afl-fuzz from fuzz/corpus/TARGET for SECONDS, then prints one line:
#   fuzz TARGET: N execs in S s, C crashes, H hangs, P paths
# and exits 1 when AFL saved a crash (an exception the target does not list, or a native crash) or a hang.
set -euo pipefail
target="${1:?usage: fuzz/run.sh TARGET SECONDS [WORKDIR]}"
seconds="${2:?usage: fuzz/run.sh TARGET SECONDS [WORKDIR]}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
work="${3:-$(mktemp -d)}"
mkdir -p "$work"

if ! command -v afl-fuzz >/dev/null 2>&1; then
  echo "fuzz $target: afl-fuzz not found (apt-get install afl++)" >&2
  exit 1
fi
tools="$work/tools"
if [ ! -x "$tools/sharpfuzz" ]; then
  dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools" >/dev/null
fi

bin="$work/bin"     # instrumented, for afl-fuzz
plain="$work/plain" # the same build uninstrumented, to replay findings (instrumented code needs AFL's shared memory)
if [ ! -f "$bin/.instrumented" ]; then
  dotnet publish "$repo/fuzz/Diffusion.Fuzzing/Diffusion.Fuzzing.csproj" -c Release -o "$plain" --nologo -v quiet >/dev/null
  rm -rf "$bin" && cp -r "$plain" "$bin"
  "$tools/sharpfuzz" "$bin/Diffusion.Core.dll" >/dev/null
  "$tools/sharpfuzz" "$bin/Diffusion.Imaging.Skia.dll" >/dev/null
  "$tools/sharpfuzz" "$bin/Diffusion.Hub.dll" >/dev/null
  "$tools/sharpfuzz" "$bin/Diffusion.Server.dll" >/dev/null
  touch "$bin/.instrumented"
fi

findings="$work/findings-$target"
rm -rf "$findings"
export AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_SKIP_BIN_CHECK=1 AFL_NO_AFFINITY=1
export DOTNET_TieredPGO=0
export DIFFUSION_SHARED="${DIFFUSION_SHARED:-$(cd "$repo/.." && pwd)/shared}"
# -t: a generous per-input time limit (the .NET runtime starts once per fork server, inputs are small);
# -m none: the CLR reserves more virtual memory than AFL's default limit.
afl-fuzz -i "$repo/fuzz/corpus/$target" -o "$findings" -t 10000 -m none -V "$seconds" \
  -- dotnet "$bin/Diffusion.Fuzzing.dll" "$target" > "$work/afl-$target.log" 2>&1 || true

stats="$findings/default/fuzzer_stats"
if [ ! -f "$stats" ]; then
  echo "fuzz $target: afl-fuzz did not start; see $work/afl-$target.log" >&2
  tail -20 "$work/afl-$target.log" >&2
  exit 1
fi
value() { sed -n "s/^$1 *: *//p" "$stats" | head -n1; }
execs=$(value execs_done); crashes=$(value saved_crashes); hangs=$(value saved_hangs)
paths=$(value corpus_count); runtime=$(value run_time)
echo "fuzz $target: ${execs} execs in ${runtime:-$seconds} s, ${crashes:-0} crashes, ${hangs:-0} hangs, ${paths} paths"
if [ "${crashes:-0}" != "0" ] || [ "${hangs:-0}" != "0" ]; then
  for f in "$findings"/default/crashes/id* "$findings"/default/hangs/id*; do
    [ -f "$f" ] || continue
    echo "  finding: $f" >&2
    dotnet "$plain/Diffusion.Fuzzing.dll" "$target" --replay "$(dirname "$f")" 2>&1 | head -5 >&2 || true
    break
  done
  exit 1
fi
