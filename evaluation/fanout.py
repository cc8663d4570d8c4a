"""Spreading render jobs over ComfyUI servers with Ray: one actor per server (each server renders one graph
at a time, as ComfyUI's queue does anyway), results stored by the driver as each arrives. A job whose
server fails goes back in the queue for another server; a server that stops answering is dropped.

Locally Ray starts a private cluster of its own; `ray_address` joins an existing one, where actors can sit
beside remote servers (the pack must be installed on those nodes).
"""
from __future__ import annotations

import logging
import time
from collections import deque
from typing import Callable

from .comfy_client import ComfyClient, ComfyServerError
from .jobs import Job
from .store import ResultStore

UNREACHABLE_LIMIT = 2  # consecutive "cannot reach" answers before a server is dropped


class RenderWorker:
    """Renders graphs on one ComfyUI server (a Ray actor: `ray.remote(RenderWorker)`)."""

    def __init__(self, url: str, timeout: float):
        self.url, self.client = url, ComfyClient(url, timeout=timeout)

    def render(self, graph: dict) -> dict:
        started = time.perf_counter()
        try:
            files = self.client.render(graph)
        except ComfyServerError as err:
            return {"error": str(err), "unreachable": "cannot reach" in str(err)}
        return {"files": files, "seconds": time.perf_counter() - started}


def _ray():
    try:
        import ray
    except ImportError as err:
        raise ImportError("eval-images spreads its jobs with Ray: pip install 'crosssteer[eval]'") from err
    return ray


def render_jobs(jobs: dict[str, Job], make_graph: Callable[[Job], dict], servers: list[str], store: ResultStore,
                *, timeout: float = 600.0, max_attempts: int = 2, ray_address: str | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> dict:
    """Render every job not yet done; return counts {rendered, reused, failed, dropped_servers}."""
    done = store.done_keys()
    queue = deque(key for key in jobs if key not in done)
    counts = {"rendered": 0, "reused": len(jobs) - len(queue), "failed": 0, "dropped_servers": []}
    if not queue:
        return counts
    ray = _ray()
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=ray_address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    try:
        actor = ray.remote(RenderWorker).options(num_cpus=0, max_restarts=1)
        idle = [(url, actor.remote(url, timeout)) for url in servers]
        unreachable = {url: 0 for url in servers}
        failures = {key: 0 for key in queue}  # failures that were the job's own, not a dead server's
        in_flight: dict = {}
        total = len(queue)
        while queue or in_flight:
            while idle and queue:
                worker, key = idle.pop(), queue.popleft()
                in_flight[worker[1].render.remote(make_graph(jobs[key]))] = (worker, key)
            if not in_flight:  # jobs left, no server left
                break
            (ref,), _ = ray.wait(list(in_flight), num_returns=1)
            (url, handle), key = in_flight.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as err:  # the actor itself died
                result = {"error": f"render worker for {url} died: {err}", "unreachable": True}
            if "error" in result:
                store.record_failure(key, jobs[key], url, result["error"])
                if result["unreachable"]:
                    unreachable[url] += 1
                    queue.appendleft(key)  # not the job's fault: it goes first to the next free server
                else:
                    unreachable[url] = 0
                    failures[key] += 1
                    if failures[key] < max_attempts:
                        queue.append(key)
                    else:
                        counts["failed"] += 1
                if unreachable[url] >= UNREACHABLE_LIMIT:
                    counts["dropped_servers"].append(url)
                    logging.getLogger(__name__).warning("dropped %s: %s", url, result["error"])
                    continue
            else:
                store.record_render(key, jobs[key], result["files"], url, result["seconds"])
                counts["rendered"] += 1
                unreachable[url] = 0
            idle.append((url, handle))
            if progress:
                progress("render", counts["rendered"] + counts["failed"], total)
        if queue:
            raise ComfyServerError(f"every server stopped answering with {len(queue)} jobs left "
                                   f"({', '.join(counts['dropped_servers'])}); rerun to finish them")
    finally:
        if started_here:
            ray.shutdown()
    return counts
