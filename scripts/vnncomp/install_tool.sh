#!/usr/bin/env bash
# VNN-COMP: install_tool.sh v1
#
# Installs verinet from this checkout into a virtualenv beside it (.vnncomp-venv, or
# $VERINET_VNNCOMP_VENV), which prepare_instance.sh and run_instance.sh then use.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/_common.sh"
check_version "${1:-}"

echo "installing verinet from $TOOL_DIR into $VENV_DIR"
python3 -m venv "$VENV_DIR"
"$VENV_DIR/bin/python" -m pip install --quiet --upgrade pip
"$VENV_DIR/bin/python" -m pip install --quiet "$TOOL_DIR"
"$VENV_DIR/bin/python" -m verinet --version
