"""The failures file of a batch job: one row per clip that could not be (fully) processed.

``failures.csv`` beside the store, columns ``clip_id,source,reason``, rewritten
atomically whenever the store commits, so it always describes the committed
state. A re-run retries every clip that is not in the store and rebuilds it,
keeping the rows of clips that are in the store with one track (they are not
retried, so their rows must survive). Names that are not valid UTF-8 (file
names are bytes on POSIX) and control characters (a newline in a name) are written
with ``\\xNN`` escapes, so one odd file name never costs the whole report or a row's line.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from ..atomic import write_text_atomic
from ..errors import printable

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
        self.order: dict[str, int] = {}  # clip id -> input position: rows are saved in input order

    def set_order(self, clip_ids: list[str]) -> None:
        """Save rows in the order of ``clip_ids`` (the job's inputs), so a resumed job writes the same file."""
        self.order = {printable(c): i for i, c in enumerate(clip_ids)}

    def add(self, clip_id: str, source: str | Path, reason: str) -> None:
        """Record that ``clip_id`` failed, and why (one line)."""
        self.entries.append(Failure(printable(clip_id), printable(str(source)), printable(" ".join(reason.split()))))

    def keep_stored(self, stored_ids: frozenset[str] | set[str]) -> None:
        """Carry over the rows of the existing file whose clips are in the store (partly failed, not retried)."""
        stored = {printable(i) for i in stored_ids}
        try:
            old = read_failures(self.path)
        except (OSError, UnicodeDecodeError, csv.Error, KeyError):
            old = []  # an unreadable old report is rebuilt from this run
        self.entries[:0] = [f for f in old if f.clip_id in stored]

    def __len__(self) -> int:
        return len(self.entries)

    def save(self) -> None:
        """Write the CSV atomically (an empty job writes just the header)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(COLUMNS)
        rows = sorted(self.entries, key=lambda f: self.order.get(f.clip_id, len(self.order)))
        writer.writerows((f.clip_id, f.source, f.reason) for f in rows)
        write_text_atomic(self.path, out.getvalue())


def read_failures(path: str | Path) -> list[Failure]:
    """The rows of a failures file (empty when it does not exist)."""
    path = Path(path)
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as f:
        return [Failure(r["clip_id"], r["source"], r["reason"]) for r in csv.DictReader(f)]
