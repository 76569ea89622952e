#!/usr/bin/env bash
# VNN-COMP: run_instance.sh v1 CATEGORY ONNX_FILE VNNLIB_FILE RESULTS_FILE TIMEOUT
#
# Decides the instance and writes RESULTS_FILE in the competition's format: the first line
# sat, unsat, unknown, timeout or error; after sat, the counterexample ((X_i v) ... (Y_j v)),
# confirmed in float64 and by onnxruntime before it is written. TIMEOUT (seconds, may be a
# decimal) is the whole run's budget: verinet's own clock covers loading and searching, and
# starts after the interpreter is up, so one second is kept back for start-up and writing.
# Compressed inputs (.gz) are read through a temporary copy.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
check_version "${1:-}"
if [ $# -ne 6 ]; then
    echo "usage: run_instance.sh v1 CATEGORY ONNX_FILE VNNLIB_FILE RESULTS_FILE TIMEOUT (got $# arguments)" >&2
    exit 1
fi
category="$2"
onnx="$3"
vnnlib="$4"
results="$5"
timeout="$6"

budget="$(awk -v t="$timeout" 'BEGIN { if (t !~ /^[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?$/ || t <= 0) exit 1;
                                        b = t - 1.0; if (b < t / 2) b = t / 2; printf "%.3f", b }')" || {
    echo "run_instance.sh: TIMEOUT must be a number of seconds greater than 0, got '$timeout'" >&2
    echo "error" > "$results"
    exit 0
}

work="$(mktemp -d "${TMPDIR:-/tmp}/verinet-vnncomp.XXXXXX")"
trap 'rm -rf "$work"' EXIT
unpack() {  # a readable plain copy of $1 if it is gzipped, else $1 itself
    case "$1" in
        *.gz) local out="$work/$(basename "${1%.gz}")"
              gzip -dc -- "$1" > "$out" && echo "$out" ;;
        *) echo "$1" ;;
    esac
}
onnx="$(unpack "$onnx")" && vnnlib="$(unpack "$vnnlib")" || { echo "error" > "$results"; exit 0; }

rm -f "$results"
mkdir -p "$STATE_DIR"
# verify in its own process group, noted for prepare_instance.sh in case the harness kills us
set -m
"$VERINET_PYTHON" -m verinet verify "$onnx" --vnnlib "$vnnlib" --timeout "$budget" \
    --strict-as-nonstrict --results-file "$results" &
pid=$!
set +m
echo "$pid" > "$STATE_DIR/pgid"
trap 'kill -KILL -- "-$pid" 2>/dev/null; rm -rf "$work"; rm -f "$STATE_DIR/pgid"; exit 143' TERM INT
wait "$pid"
code=$?
rm -f "$STATE_DIR/pgid"

# verify writes the results file for sat (10), unsat (0), unknown and timeout (20); for a
# model or property it cannot read (3, 4, 5) or an internal error (1) it writes nothing
if [ ! -s "$results" ]; then
    case "$code" in
        3|4|5) echo "unknown" > "$results" ;;
        *) echo "error" > "$results" ;;
    esac
    echo "run_instance.sh: verinet exited with code $code on category $category" >&2
fi
exit 0
