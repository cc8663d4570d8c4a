"""The evaluation's resumable store: one SQLite file beside the images. A job's images are written to
disk first and recorded after, in one transaction, so a crash at any point loses at most the jobs in
flight and a rerun redoes only those.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from pathlib import Path

from .jobs import Job

SCHEMA = """
CREATE TABLE IF NOT EXISTS renders (
    key TEXT PRIMARY KEY, job TEXT NOT NULL, status TEXT NOT NULL, images TEXT, server TEXT,
    seconds REAL, attempts INTEGER NOT NULL DEFAULT 0, error TEXT, updated REAL);
CREATE TABLE IF NOT EXISTS scores (
    key TEXT NOT NULL, image TEXT NOT NULL, evaluator TEXT NOT NULL, score REAL NOT NULL, unsafe INTEGER,
    detail TEXT, PRIMARY KEY (key, image, evaluator));
"""


class ResultStore:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.images = self.folder / "images"
        self.images.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(self.folder / "results.sqlite")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.executescript(SCHEMA)

    def close(self) -> None:
        self.db.close()

    def done_keys(self) -> set[str]:
        return {k for (k,) in self.db.execute("SELECT key FROM renders WHERE status = 'done'")}

    def record_render(self, key: str, job: Job, files: list[tuple[str, bytes]], server: str, seconds: float) -> None:
        names = []
        for i, (original, data) in enumerate(files):
            name = f"{key}_{i}{Path(original).suffix or '.png'}"
            temporary = self.images / (name + ".part")
            temporary.write_bytes(data)
            os.replace(temporary, self.images / name)  # a half-written image never carries the final name
            names.append(name)
        with self.db:
            self.db.execute("DELETE FROM scores WHERE key = ?", (key,))  # scores of an older render of this job
            self.db.execute(
                "INSERT INTO renders (key, job, status, images, server, seconds, attempts, error, updated) "
                "VALUES (?, ?, 'done', ?, ?, ?, 1, NULL, ?) ON CONFLICT(key) DO UPDATE SET status = 'done', "
                "images = excluded.images, server = excluded.server, seconds = excluded.seconds, "
                "attempts = renders.attempts + 1, error = NULL, updated = excluded.updated",
                (key, job.to_json(), json.dumps(names), server, seconds, time.time()))

    def record_failure(self, key: str, job: Job, server: str, error: str) -> None:
        with self.db:
            self.db.execute(
                "INSERT INTO renders (key, job, status, server, attempts, error, updated) "
                "VALUES (?, ?, 'failed', ?, 1, ?, ?) ON CONFLICT(key) DO UPDATE SET status = 'failed', "
                "server = excluded.server, attempts = renders.attempts + 1, error = excluded.error, "
                "updated = excluded.updated",
                (key, job.to_json(), server, error, time.time()))

    def renders(self, keys: set[str] | None = None) -> list[dict]:
        """Finished renders: key, job, image file names, server, seconds."""
        rows = self.db.execute("SELECT key, job, images, server, seconds FROM renders WHERE status = 'done'")
        return [{"key": k, "job": Job.from_json(j), "images": json.loads(i), "server": s, "seconds": sec}
                for k, j, i, s, sec in rows if keys is None or k in keys]

    def failures(self) -> list[dict]:
        rows = self.db.execute("SELECT key, job, server, attempts, error FROM renders WHERE status = 'failed'")
        return [{"key": k, "job": Job.from_json(j), "server": s, "attempts": a, "error": e} for k, j, s, a, e in rows]

    def scored(self, evaluator: str) -> set[tuple[str, str]]:
        return set(self.db.execute("SELECT key, image FROM scores WHERE evaluator = ?", (evaluator,)))

    def record_scores(self, evaluator: str, rows: list[tuple[str, str, float, bool | None, dict]]) -> None:
        """rows: (key, image, score, unsafe or None, detail)."""
        with self.db:
            self.db.executemany(
                "INSERT OR REPLACE INTO scores (key, image, evaluator, score, unsafe, detail) VALUES (?, ?, ?, ?, ?, ?)",
                [(k, img, evaluator, float(s), None if u is None else int(bool(u)), json.dumps(d))
                 for k, img, s, u, d in rows])

    def scores(self, keys: set[str] | None = None) -> list[dict]:
        rows = self.db.execute("SELECT key, image, evaluator, score, unsafe, detail FROM scores")
        return [{"key": k, "image": img, "evaluator": e, "score": s, "unsafe": None if u is None else bool(u),
                 "detail": json.loads(d)} for k, img, e, s, u, d in rows if keys is None or k in keys]
