"""A running ComfyUI server over its HTTP API: queue a graph, wait for it, fetch what it saved.

Standard library only, so a render worker can run anywhere Python does.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

CLIENT_ID = "crosssteer-eval"


class ComfyServerError(RuntimeError):
    """The server is unreachable, refused the graph, or the graph failed; the message says which and why."""


class ComfyClient:
    def __init__(self, url: str, timeout: float = 600.0, poll: float = 0.25):
        self.url = url.rstrip("/")
        if not self.url.startswith(("http://", "https://")):
            raise ValueError(f"{url!r} is not a server address: use http://host:port")
        self.timeout, self.poll = timeout, poll

    def request(self, path: str, body: dict | None = None, raw: bool = False):
        """GET (or POST `body` as JSON) one API path; its JSON answer, or its bytes with raw=True."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.url + path, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                payload = response.read()
        except urllib.error.HTTPError as err:
            raise ComfyServerError(f"{self.url}{path}: HTTP {err.code}: {_http_error_text(err)}") from None
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise ComfyServerError(f"{self.url}: cannot reach the ComfyUI server ({reason}); is it running?") from None
        return payload if raw else json.loads(payload)

    def object_info(self) -> dict:
        return self.request("/object_info")

    def run(self, graph: dict) -> dict:
        """Queue an API-format graph and wait until it finished; its outputs, as /history reports them."""
        answer = self.request("/prompt", {"prompt": graph, "client_id": CLIENT_ID, "prompt_id": str(uuid.uuid4())})
        prompt_id = answer["prompt_id"]
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            history = self.request(f"/history/{prompt_id}")
            if prompt_id in history:
                status = history[prompt_id].get("status", {})
                if status.get("status_str") != "success":
                    raise ComfyServerError(f"{self.url}: the graph failed: {_execution_error(status)}")
                return history[prompt_id].get("outputs", {})
            time.sleep(self.poll)
        raise ComfyServerError(f"{self.url}: the graph did not finish within {self.timeout:.0f} s")

    def fetch(self, ref: dict) -> bytes:
        """The bytes of one output file ({filename, subfolder, type}, as /history lists it)."""
        query = urllib.parse.urlencode({k: ref.get(k, "") for k in ("filename", "subfolder", "type")})
        return self.request(f"/view?{query}", raw=True)

    def render(self, graph: dict) -> list[tuple[str, bytes]]:
        """Run the graph and return every image it produced, as (file name, bytes), in node order."""
        outputs = self.run(graph)
        files = [ref for node_id in sorted(outputs, key=_node_order) for ref in outputs[node_id].get("images", [])
                 if ref.get("filename")]
        if not files:
            raise ComfyServerError(f"{self.url}: the graph ran but produced no image (no SaveImage/PreviewImage?)")
        return [(ref["filename"], self.fetch(ref)) for ref in files]


def _node_order(node_id: str):
    return (0, int(node_id)) if node_id.isdigit() else (1, node_id)


def _http_error_text(err: urllib.error.HTTPError) -> str:
    body = err.read().decode(errors="replace")
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        return body[:2000]
    # /prompt answers 400 with {"error": {...}, "node_errors": {node: {"errors": [...], "class_type": ...}}}
    parts = [data.get("error", {}).get("message", "")] if isinstance(data.get("error"), dict) else []
    for node_id, node in (data.get("node_errors") or {}).items():
        for e in node.get("errors", []):
            parts.append(f"node {node_id} ({node.get('class_type')}): {e.get('message')}: {e.get('details')}")
    return "; ".join(p for p in parts if p) or body[:2000]


def _execution_error(status: dict) -> str:
    for event, data in status.get("messages", []):
        if event == "execution_error":
            return f"{data.get('node_type')}: {data.get('exception_type')}: {data.get('exception_message', '').strip()}"
        if event == "execution_interrupted":
            return "interrupted on the server"
    return json.dumps(status)[:2000]
