"""Workflow files as people share them: UI format (what ComfyUI saves) or API format (Export (API)),
bare or wrapped: `{"prompt": ...}` (the body of ComfyUI's /prompt) or `{"input": {"workflow": ...}}`
(serverless workers). Read, unwrapped, and wrapped back the same way."""
from __future__ import annotations

import copy
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import WorkflowError
from .ui_graph import is_ui_format

ENVELOPES = (("input", "workflow"), ("input", "prompt"), ("prompt",), ("workflow",))
UI, API = "UI", "API"
MAX_BYTES = 64 * 1024 * 1024


def is_api_format(data) -> bool:
    return isinstance(data, dict) and bool(data) and all(
        isinstance(n, dict) and isinstance(n.get("class_type"), str) and isinstance(n.get("inputs"), dict)
        for n in data.values())


@dataclass
class Document:
    """A parsed file: the whole JSON, where the workflow sits in it, and which format the workflow is in."""

    whole: object
    keys: tuple[str, ...]
    format: str

    @property
    def workflow(self) -> dict:
        data = self.whole
        for key in self.keys:
            data = data[key]
        return data

    def wrapped(self, workflow: dict):
        """The whole file again, its workflow replaced (the original is not changed)."""
        if not self.keys:
            return workflow
        whole = copy.deepcopy(self.whole)
        inner = whole
        for key in self.keys[:-1]:
            inner = inner[key]
        inner[self.keys[-1]] = workflow
        return whole


def parse(data, name: str = "the workflow") -> Document:
    for keys in ((), *ENVELOPES):
        inner = data
        for key in keys:
            inner = inner.get(key) if isinstance(inner, dict) else None
        if is_ui_format(inner):
            return Document(data, keys, UI)
        if is_api_format(inner):
            return Document(data, keys, API)
    raise WorkflowError(f"{name} is not a ComfyUI workflow: expected the UI format (nodes + links), the API format "
                        "({id: {class_type, inputs}}), or one of them under 'prompt' or 'input.workflow'")


def read(path: str | Path) -> Document:
    path = Path(path)
    try:
        if path.stat().st_size > MAX_BYTES:
            raise WorkflowError(f"{path}: {path.stat().st_size} bytes is too large for a workflow (64 MB at most)")
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise WorkflowError(f"{path}: not a readable JSON workflow ({err})") from None
    return parse(data, str(path))


def write(path: str | Path, data, *, never: str | Path) -> Path:
    """Write JSON to `path` (through a temporary file, renamed into place), refusing to replace `never`."""
    path, never = Path(path), Path(never)
    if path.resolve() == never.resolve() or (path.exists() and never.exists() and os.path.samefile(path, never)):
        raise WorkflowError(f"{path} is the input file: write the steered workflow to a new file (-o OUT.json)")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(temporary, path)
    return path
