#!/usr/bin/env bash
# VNN-COMP: prepare_instance.sh v1 CATEGORY ONNX_FILE VNNLIB_FILE
#
# Ends what an earlier run_instance.sh may have left running, and checks that the files exist
# and that verinet starts. Exit 0: ready; anything else: the harness skips the instance.
set -uo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
check_version "${1:-}"
if [ $# -ne 4 ]; then
    echo "usage: prepare_instance.sh v1 CATEGORY ONNX_FILE VNNLIB_FILE (got $# arguments)" >&2
    exit 1
fi
onnx="$3"
vnnlib="$4"

# a verify process group that an earlier, interrupted run_instance.sh started
if [ -f "$STATE_DIR/pgid" ]; then
    pgid="$(cat "$STATE_DIR/pgid" 2>/dev/null || true)"
    if [ -n "$pgid" ] && kill -0 -- "-$pgid" 2>/dev/null; then
        kill -KILL -- "-$pgid" 2>/dev/null || true
    fi
    rm -f "$STATE_DIR/pgid"
fi

for f in "$onnx" "$vnnlib"; do
    if [ ! -r "$f" ]; then
        echo "prepare_instance.sh: $f: no such readable file" >&2
        exit 1
    fi
done
if ! "$VERINET_PYTHON" -c "import verinet" 2>/dev/null; then
    echo "prepare_instance.sh: $VERINET_PYTHON cannot import verinet; run install_tool.sh v1 first" >&2
    exit 1
fi
exit 0
