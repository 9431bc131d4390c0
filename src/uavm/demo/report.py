"""The demo's report: one Markdown and one HTML page with the results table and the figures."""

from __future__ import annotations

import html
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..atomic import write_text_atomic


@dataclass
class Report:
    """What the report shows: a title, paragraphs, result tables and figures, in order."""

    title: str
    sections: list[tuple[str, list]] = field(default_factory=list)

    def section(self, heading: str) -> list:
        """Start a section; append ``str`` (a paragraph), ``Table`` or ``Figure`` items to it."""
        items: list = []
        self.sections.append((heading, items))
        return items

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        """Write ``report.md`` and ``report.html`` into ``out_dir``; figure paths become relative."""
        out_dir = Path(out_dir)
        md, page = [f"# {self.title}", ""], [_HTML_HEAD.format(title=html.escape(self.title))]
        for heading, items in self.sections:
            md += [f"## {heading}", ""]
            page.append(f"<h2>{html.escape(heading)}</h2>")
            for item in items:
                if isinstance(item, Table):
                    md += [item.markdown(), ""]
                    page.append(item.html())
                elif isinstance(item, Figure):
                    rel = os.path.relpath(item.path, out_dir)
                    md += [f"![{item.caption}]({rel})", f"*{item.caption}*", ""]
                    page.append(
                        f'<figure><img src="{html.escape(rel)}" alt="{html.escape(item.caption)}">'
                        f"<figcaption>{html.escape(item.caption)}</figcaption></figure>"
                    )
                else:
                    md += [str(item), ""]
                    page.append(f"<p>{html.escape(str(item))}</p>")
        page.append("</body></html>")
        md_path, html_path = out_dir / "report.md", out_dir / "report.html"
        write_text_atomic(md_path, "\n".join(md))
        write_text_atomic(html_path, "\n".join(page))
        return md_path, html_path


@dataclass
class Table:
    header: list[str]
    rows: list[list]

    def _cells(self) -> list[list[str]]:
        return [[f"{v:.1f}" if isinstance(v, float) else str(v) for v in row] for row in self.rows]

    def markdown(self) -> str:
        lines = ["| " + " | ".join(self.header) + " |", "|" + "---|" * len(self.header)]
        lines += ["| " + " | ".join(row) + " |" for row in self._cells()]
        return "\n".join(lines)

    def html(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.header)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in self._cells())
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


@dataclass
class Figure:
    path: Path
    caption: str


_HTML_HEAD = """<!doctype html><html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.4}}
table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:.2em .6em;text-align:right}}
img{{max-width:100%}}figure{{margin:1em 0}}figcaption{{font-style:italic}}</style></head><body>
<h1>{title}</h1>"""
