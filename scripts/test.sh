#!/usr/bin/env bash
# `make test`: provision, then the whole suite on the first ComfyUI (0.3.75, or COMFYUI_PATH) and every
# ComfyUI-facing test (marker `comfy`) on 0.28.0 where setup can provision it. 0.28's provisioning is mostly
# downloads, so it runs while the first suite runs, and its tests start as soon as it is ready: on a 2-core
# machine the two suites overlap where either one waits (servers starting, Chromium, subprocesses).
# Exits non-zero if setup or either suite fails; the first suite's output is printed when it ends.
set -uo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
bash scripts/setup.sh first || exit 1

first_log=$(mktemp "${TMPDIR:-/tmp}/crosssteer-tests-first.XXXXXX")
.venv/bin/python -m pytest > "$first_log" 2>&1 &
first_pid=$!

second=0
if bash scripts/setup.sh comfy028; then
  if [ -x .venv-comfy028/bin/python ]; then
    printf '\n[test] ComfyUI 0.28.0: the tests marked comfy (the first suite runs alongside; its output follows)\n'
    COMFYUI_PATH=$PWD/.comfyui/ComfyUI-0.28.0 .venv-comfy028/bin/python -m pytest -m comfy || second=$?
  fi
else
  second=1
fi

wait "$first_pid"; first=$?
printf '\n[test] the whole suite on the first ComfyUI:\n'
cat "$first_log"; rm -f "$first_log"
printf '\n[test] first ComfyUI: exit %s; ComfyUI 0.28.0: exit %s\n' "$first" "$second"
[ "$first" = 0 ] && [ "$second" = 0 ]
