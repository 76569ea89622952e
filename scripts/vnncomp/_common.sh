# Shared by the VNN-COMP scripts of this folder (sourced, not run).
#
# TOOL_DIR is the checkout; VERINET_PYTHON the interpreter that runs verinet: the virtualenv
# made by install_tool.sh if it exists, else $VERINET_PYTHON, else python3 with verinet importable.
TOOL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
VENV_DIR="${VERINET_VNNCOMP_VENV:-$TOOL_DIR/.vnncomp-venv}"
if [ -z "${VERINET_PYTHON:-}" ]; then
    if [ -x "$VENV_DIR/bin/python" ]; then
        VERINET_PYTHON="$VENV_DIR/bin/python"
    else
        VERINET_PYTHON="python3"
    fi
fi
# where run_instance.sh notes the process it started, for prepare_instance.sh to clean up
STATE_DIR="${TMPDIR:-/tmp}/verinet-vnncomp-$(id -u)"

check_version() {
    if [ "${1:-}" != "v1" ]; then
        echo "$(basename "$0"): expected the version string v1 as the first argument, got '${1:-}'" >&2
        exit 1
    fi
}
