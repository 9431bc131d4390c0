"""The failures file of a batch job: one row per clip that could not be (fully) processed.

``failures.csv`` beside the store, columns ``clip_id,source,reason``, rewritten
atomically whenever the store commits, so it always describes the committed
state. A re-run retries every clip that is not in the store and rebuilds it.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_text_atomic

FAILURES = "failures.csv"
COLUMNS = ("clip_id", "source", "reason")


@dataclass(frozen=True)
class Failure:
    """One failed (or partly failed) clip."""

    clip_id: str
    source: str
    reason: str


class FailureLog:
    """Failures collected during a job and saved to ``path``."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.entries: list[Failure] = []

    def add(self, clip_id: str, source: str | Path, reason: str) -> None:
        """Record that ``clip_id`` failed, and why (one line)."""
        self.entries.append(Failure(clip_id, str(source), " ".join(reason.split())))

    def __len__(self) -> int:
        return len(self.entries)

    def save(self) -> None:
        """Write the CSV atomically (an empty job writes just the header)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        writer.writerows((f.clip_id, f.source, f.reason) for f in self.entries)
        write_text_atomic(self.path, out.getvalue())


def read_failures(path: str | Path) -> list[Failure]:
    """The rows of a failures file (empty when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [Failure(r["clip_id"], r["source"], r["reason"]) for r in csv.DictReader(f)]
