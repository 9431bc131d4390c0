"""Progress display: a redrawn bar on a terminal, a few plain lines anywhere else.

A tqdm bar written to a file or a CI log leaves one line per redraw (thousands for
a training run); :func:`progress_bar` is the one place that decides. On a terminal
it returns a tqdm bar; otherwise a :class:`LineProgress` that prints one line when
the stage ends (and one a minute while a long stage runs), or nothing when
``summary=False`` (for a caller that logs its own line per stage, like the
trainers' line per epoch).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

from tqdm.auto import tqdm

LINE_INTERVAL_S = 60.0


def is_terminal(file: IO[str] | None = None) -> bool:
    """Whether ``file`` (default: stderr) is an interactive terminal."""
    file = sys.stderr if file is None else file
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False


class LineProgress:
    """The non-terminal stand-in of a tqdm bar (same calls: iterate, update, set_postfix, write, close)."""

    def __init__(
        self,
        iterable: Iterable | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        summary: bool = True,
        file: IO[str] | None = None,
        interval: float = LINE_INTERVAL_S,
    ):
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit, self.summary = total, desc, unit, summary
        self.file, self.interval = file, interval
        self.n = 0
        self.postfix = ""
        self.started = self.last_line = time.monotonic()
        self.closed = False

    def __iter__(self) -> Iterator[Any]:
        try:
            for item in self.iterable or ():
                yield item
                self.update()
        except GeneratorExit:  # the caller stopped early: the stage still ends
            self.close()
            raise
        except BaseException:  # the stage failed: no "done" line above the error
            self.closed = True
            raise
        self.close()

    def __len__(self) -> int:
        return self.total or 0

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` more done; print a line when a long stage has been quiet for ``interval`` seconds."""
        self.n += n
        now = time.monotonic()
        if self.summary and now - self.last_line >= self.interval:
            self.last_line = now
            self._line("")

    def set_postfix(self, ordered_dict: dict | None = None, refresh: bool = True, **values: Any) -> None:
        """Remember ``key=value`` pairs for the next line."""
        values = {**(ordered_dict or {}), **values}
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_description(self, desc: str = "", refresh: bool = True) -> None:
        self.desc = desc

    def write(self, text: str) -> None:
        """Print ``text`` on its own line (as ``tqdm.write``)."""
        print(text, file=self.file or sys.stderr, flush=True)

    def refresh(self) -> None:
        """Nothing to redraw off a terminal."""

    def close(self) -> None:
        """Print the stage's closing line (once)."""
        if self.closed:
            return
        self.closed = True
        if self.summary:
            self._line(" done")

    def _line(self, state: str) -> None:
        count = f"{self.n}/{self.total}" if self.total else str(self.n)
        took = time.monotonic() - self.started
        tail = f" ({self.postfix})" if self.postfix else ""
        self.write(f"{self.desc}{':' if self.desc else ''}{state} {count} {self.unit} in {took:.1f} s{tail}")


def progress_bar(
    iterable: Iterable | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    enabled: bool = True,
    summary: bool = True,
    leave: bool = False,
    file: IO[str] | None = None,
    **tqdm_options: Any,
) -> Any:
    """A tqdm bar on a terminal, a :class:`LineProgress` elsewhere, silent when not ``enabled``.

    ``summary=False`` makes the non-terminal form print nothing (the caller logs its own line).
    """
    if enabled and is_terminal(file):
        return tqdm(iterable, total=total, desc=desc, unit=unit, leave=leave, file=file, **tqdm_options)
    return LineProgress(iterable, total=total, desc=desc, unit=unit, summary=enabled and summary, file=file)
