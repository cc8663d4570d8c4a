"""scripts/fetch_qwen_coder.py's check of the assembled Qwen2.5-Coder GGUF: a file without the GGUF magic is
refused before anything parses it, and the real assembled file (when a run of the script left it in place;
the test skips otherwise, since it comes from six 89 MB registry packages) states architecture qwen2 and
width 896 in its own metadata."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fetch_qwen_coder.py"


@pytest.fixture(scope="module")
def fetcher():
    spec = importlib.util.spec_from_file_location("fetch_qwen_coder", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_file_without_the_gguf_magic_is_refused(fetcher, tmp_path):
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"PK\x03\x04" + bytes(60))  # a zip slice, as a wrong part order would start
    with pytest.raises(SystemExit, match="GGUF magic"):
        fetcher.check(broken)


def test_the_assembled_file_is_qwen2_896_wide(fetcher):
    if not fetcher.DEFAULT_OUT.exists():
        pytest.skip(f"{fetcher.DEFAULT_OUT} is absent: run scripts/fetch_qwen_coder.py to assemble it")
    facts = fetcher.check(fetcher.DEFAULT_OUT)
    assert (facts["magic"], facts["architecture"], facts["width"]) == ("GGUF", "qwen2", 896)
    assert facts["layers"] == 24 and facts["bytes"] > 400_000_000
