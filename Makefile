# The two commands of the README, and the setup they share.
.PHONY: setup test demo

setup:
	bash scripts/setup.sh

test: setup
	OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m pytest

demo: setup
	.venv/bin/crosssteer demo
