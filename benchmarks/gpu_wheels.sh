#!/usr/bin/env bash
# Download into .whl/ (run on a machine with network, in the repository root or anywhere in it) the
# wheels that benchmarks/gpu.sh installs on a GPU machine that has no network: nir (the version
# pyproject.toml asks for), snntorch, norse and spyx (benchmarks/requirements-peers.txt), and every
# dependency of theirs that the GPU machine does not have. That machine has Python 3.12 with jax,
# flax, optax, numpy, torch, h5py, rich, matplotlib and orbax-checkpoint (and what they depend on:
# PRESENT below). Dependencies come from each wheel's METADATA (`unzip -p`), extras left out.
#
#   bash benchmarks/gpu_wheels.sh            # -> .whl/*.whl
#   WHL_DIR=/tmp/whl PYTHON=python3.12 bash benchmarks/gpu_wheels.sh
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${WHL_DIR:-.whl}
PY=${PYTHON:-python3}
mkdir -p "$DEST"

# On the GPU machine already: the listed packages and their own dependencies (normalised names).
PRESENT=" jax jaxlib ml-dtypes opt-einsum scipy flax msgpack tensorstore typing-extensions pyyaml treescope
 optax absl-py chex toolz numpy torch filelock setuptools sympy mpmath networkx jinja2 markupsafe fsspec triton
 h5py rich markdown-it-py mdurl pygments matplotlib contourpy cycler fonttools kiwisolver packaging pillow
 pyparsing python-dateutil six orbax-checkpoint etils importlib-resources zipp aiofiles protobuf humanize
 simplejson psutil nest-asyncio uvloop "
# Not needed: norse.torch imports without torchvision (benchmarks/README.md, "Setup").
SKIP=" torchvision "

norm() { tr 'A-Z' 'a-z' | sed -E 's/[-_.]+/-/g'; }

pin() {  # the line for $1 in benchmarks/requirements-peers.txt, e.g. spyx==1.0.0
    grep -E "^$1==" benchmarks/requirements-peers.txt | head -n 1
}

nir_req=$(grep -oE '"nir[<>=!~ ][^"]*"' pyproject.toml | head -n 1 | tr -d '"')
queue=("${nir_req:-nir}" "$(pin snntorch)" "$(pin norse)" "$(pin spyx)")
seen=" "

download() {  # a binary wheel for CPython 3.12 on Linux x86-64; else a pure-Python one built from the sdist
    "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux2014_x86_64 --platform any \
        -d "$DEST" "$1" 2>/dev/null && return
    echo "  no binary wheel; building one from the sdist (kept only if it is py3-none-any)"
    local tmp
    tmp=$(mktemp -d)
    "$PY" -m pip wheel -q --no-deps -w "$tmp" "$1"
    if ! ls "$tmp"/*-py3-none-any.whl >/dev/null 2>&1; then
        echo "$1: the wheel built is not pure Python: $(ls "$tmp")" >&2
        exit 1
    fi
    mv "$tmp"/*-py3-none-any.whl "$DEST"/
    rm -rf "$tmp"
}

while ((${#queue[@]})); do
    req=${queue[0]}
    queue=("${queue[@]:1}")
    name=$(printf '%s' "$req" | sed -E 's/[ ;<>=!~(\[].*//' | norm)
    case "$seen$PRESENT$SKIP" in *" $name "*) continue ;; esac
    seen="$seen$name "
    echo "downloading $req"
    download "$req"
    wheel=""
    for f in "$DEST"/*.whl; do
        if [ "$(basename "$f" | cut -d- -f1 | norm)" = "$name" ]; then wheel=$f; fi
    done
    if [ -z "$wheel" ]; then  # pip succeeded without a file: the marker (e.g. Windows only) does not apply
        echo "  skipped: its environment marker does not apply"
        continue
    fi
    # Requires-Dist lines without an extra; "chex (>=0.1)" -> "chex>=0.1"
    while IFS= read -r dep; do
        [ -n "$dep" ] && queue+=("$dep")
    done < <(unzip -p "$wheel" '*.dist-info/METADATA' | tr -d '\r' \
        | sed -n 's/^Requires-Dist: //p' | grep -v 'extra ==' | sed -E 's/ \(([^)]*)\)/\1/')
done
echo "wheels in $DEST:"
ls -1 "$DEST"
