"""progress_bar: a tqdm bar on a terminal, a few plain lines in a log."""

from __future__ import annotations

import io

from tqdm import tqdm

from uavm.progress import LineProgress, progress_bar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_line_per_stage_not_one_per_step():
    log = io.StringIO()
    bar = progress_bar(range(500), desc="extract", unit="clip", file=log)
    assert isinstance(bar, LineProgress)
    seen = 0
    for _ in bar:
        seen += 1
        bar.set_postfix(loss="0.5")
    assert seen == 500
    lines = log.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].startswith("extract: done 500/500 clip in ") and "loss=0.5" in lines[0]


def test_summary_off_prints_nothing_and_disabled_is_silent_everywhere():
    log = io.StringIO()
    assert list(progress_bar(range(3), desc="epoch 1", summary=False, file=log)) == [0, 1, 2]
    terminal = Terminal()
    assert list(progress_bar(range(3), enabled=False, file=terminal)) == [0, 1, 2]
    assert log.getvalue() == "" and terminal.getvalue() == ""


def test_a_terminal_gets_a_tqdm_bar():
    terminal = Terminal()
    with progress_bar(total=4, desc="pack", file=terminal) as bar:
        assert isinstance(bar, tqdm)
        bar.update(4)
    assert "pack" in terminal.getvalue()


def test_a_long_stage_reports_while_it_runs():
    log = io.StringIO()
    bar = LineProgress(total=10, desc="predict", file=log, interval=0.0)
    bar.update(3)
    bar.close()
    bar.close()
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("predict: 3/10") and lines[-1].startswith("predict: done 3/10") and len(lines) == 2
