# The two commands of the README, and the setup they share.
.PHONY: setup test demo

setup:
	bash scripts/setup.sh

test: setup
	.venv/bin/python -m pytest

demo: setup
	.venv/bin/crosssteer demo
