"""What the registry sees: comfy-cli's own metadata/security check and the archive it would publish,
run on a clean clone of the committed tree (offline: both commands work without the network)."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

PACK_ROOT = Path(__file__).resolve().parents[1]
COMFY_CLI = Path(sys.executable).parent / "comfy"


@pytest.fixture(scope="module")
def clean_clone(tmp_path_factory) -> Path:
    clone = tmp_path_factory.mktemp("pack") / "crosssteer"
    subprocess.run(["git", "clone", "-q", str(PACK_ROOT), str(clone)], check=True)
    return clone


def _comfy(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([str(COMFY_CLI), "--skip-prompt", "--no-enable-telemetry", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_comfy_node_validate_passes(clean_clone):
    result = _comfy(["node", "validate"], clean_clone)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validation checks passed" in result.stdout + result.stderr


def test_comfy_node_pack_publishes_the_pack_and_nothing_else(clean_clone):
    result = _comfy(["node", "pack"], clean_clone)
    assert result.returncode == 0, result.stdout + result.stderr
    names = zipfile.ZipFile(clean_clone / "node.zip").namelist()
    for needed in ("__init__.py", "pyproject.toml", "README.md", "nodes/registry.py", "directions/steer.py",
                   "directions/data/pairs.jsonl", "directions/data/anchors.jsonl",
                   "directions/data/category_vocab_anchors.jsonl",  # part of the default anchors
                   "directions/data/independent/pairs.jsonl", "directions/data/independent/captions.jsonl",
                   "directions/data/auto_source.safetensors"):
        assert needed in names, f"{needed} missing from node.zip"
    for name in names:
        top = name.split("/")[0]
        assert top not in (".venv", ".comfyui", ".cache", "models", "__pycache__"), f"{name} must not be published"
        assert not name.endswith((".pyc", ".gguf")), f"{name} must not be published"
