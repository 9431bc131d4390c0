"""CSV tables of analysis results, written atomically."""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_path


def write_csv(dest: str | Path, rows: Sequence[Mapping[str, Any]]) -> Path:
    """Write ``rows`` (dicts sharing their keys, first row's order) to ``dest`` as CSV."""
    dest = Path(dest)
    fields = list(rows[0]) if rows else []
    with atomic_path(dest) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=fields)
            writer.writeheader()
            writer.writerows(rows)
    return dest
