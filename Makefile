# The two commands of the README, and the setup they share.
.PHONY: setup test demo

COMFY028 := $(CURDIR)/.comfyui/ComfyUI-0.28.0

setup:
	bash scripts/setup.sh

# The whole suite on ComfyUI 0.3.75 (or COMFYUI_PATH), then the ComfyUI-facing tests again on 0.28.0
# where setup provisioned it.
test: setup
	OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m pytest
	if [ -x .venv-comfy028/bin/python ]; then \
	  COMFYUI_PATH=$(COMFY028) OMP_WAIT_POLICY=PASSIVE .venv-comfy028/bin/python -m pytest -m comfy; fi

demo: setup
	.venv/bin/crosssteer demo
