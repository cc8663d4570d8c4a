# The two commands of the README, and the setup they share.
.PHONY: setup test demo

setup:
	bash scripts/setup.sh

# Provision, then the whole suite on ComfyUI 0.3.75 (or COMFYUI_PATH) and the ComfyUI-facing tests on 0.28.0
# where setup can provision it, the second overlapping the first (scripts/test.sh says how).
test:
	bash scripts/test.sh

demo: setup
	.venv/bin/crosssteer demo
