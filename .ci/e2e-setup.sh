#!/usr/bin/env bash
# Installs the real model servers for the end-to-end tier (tests/e2e) into venvs inside the
# repository (.ci/venvs/, gitignored). Idempotent: a venv whose requirements have not changed
# since its last successful install is left alone.
#
# Each server gets its own venv because their dependencies clash (MMS pins old packages) and
# because neither must leak into the venv that tests mararch itself.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
VENVS=.ci/venvs

if ! command -v java >/dev/null 2>&1; then
    echo "e2e-setup: 'java' is not on PATH: TorchServe and MMS need a Java 11+ runtime (Java 17 is expected)." >&2
    echo "e2e-setup: install one (Debian: apt-get install openjdk-17-jre-headless) and run again." >&2
    exit 1
fi

# make_venv NAME REQUIREMENT...: (re)creates $VENVS/NAME when its requirement list changed.
make_venv() {
    local name="$1"
    shift
    local dir="$VENVS/$name"
    local want
    want="$(printf '%s\n' "$@")"
    if [ -f "$dir/.installed" ] && [ "$(cat "$dir/.installed")" = "$want" ]; then
        echo "e2e-setup: $dir is up to date"
        return
    fi
    echo "e2e-setup: installing $dir: $*"
    rm -rf "$dir"
    "$PYTHON" -m venv "$dir"
    # pip's log goes to a file (this machine's extra indexes make it chatty) and is shown on error.
    if ! "$dir/bin/python" -m pip install "$@" >"$dir.log" 2>&1; then
        tail -n 40 "$dir.log" >&2
        echo "e2e-setup: installing $* into $dir failed (full log: $dir.log)" >&2
        exit 1
    fi
    # Written last: an interrupted install is redone on the next run.
    printf '%s\n' "$want" >"$dir/.installed"
}

# torch is pinned exactly: an unpinned torch pulls a multi-GB CUDA build. pyyaml is imported by
# the worker but not declared by the torchserve package. safetensors writes the `torch` tier's
# corpus (tests/torch_corpus.py).
make_venv torchserve "torch==2.13.0" "torchserve==0.12.0" "pyyaml>=6" "numpy" "safetensors"

# No MXNet: the e2e tier serves pure-Python handlers only.
make_venv mms "multi-model-server==1.1.11"

echo "e2e-setup: ok"
