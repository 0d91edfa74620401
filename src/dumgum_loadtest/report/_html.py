"""HTML building blocks for the report: escaping, tables, nested tables, figures, the stylesheet.

Text from data is escaped at the one place it becomes HTML (``cell``); only ``Markup`` built
here passes through unchanged.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from dumgum_loadtest.report._format import DASH, is_secret, plain
from dumgum_loadtest.report.plots import Plot

REDACTED = "[redacted]"
NESTED_DEPTH_MAX = 6
NESTED_ROWS_MAX = 200


class Markup(str):
    """HTML that was built here from escaped parts: inserted as is."""

    __slots__ = ()


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def cell(value: Any) -> str:
    """A value as HTML: ``Markup`` as is, anything else escaped after ``plain`` formatting."""
    if isinstance(value, Markup):
        return value
    return esc(value if isinstance(value, str) else plain(value))


def tag(name: str, content: Any, **attrs: str) -> Markup:
    attributes = "".join(f' {key.rstrip("_")}="{esc(val)}"' for key, val in attrs.items() if val)
    return Markup(f"<{name}{attributes}>{cell(content)}</{name}>")


def join(parts: Iterable[Any]) -> Markup:
    return Markup("".join(cell(part) for part in parts))


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    caption: str | None = None,
    numeric_from: int = 1,
    numeric_to: int | None = None,
    css: str = "",
    group_starts: frozenset[int] = frozenset(),
) -> Markup:
    """A table with a header row, in a box that scrolls sideways when the table is wider than
    the page; columns ``numeric_from`` to ``numeric_to`` are right-aligned.

    Rows whose index is in ``group_starts`` get a heavier rule above them.
    """
    numeric = range(numeric_from, len(headers) if numeric_to is None else numeric_to)
    head = join(tag("th", h, class_="num" if i in numeric else "") for i, h in enumerate(headers))
    body = []
    for index, row in enumerate(rows):
        cells = (tag("td", v, class_="num" if i in numeric else "") for i, v in enumerate(row))
        group = ' class="group"' if index in group_starts and index else ""
        body.append(f"<tr{group}>{join(cells)}</tr>")
    if not body:
        body.append(f'<tr><td colspan="{len(headers)}" class="empty">no data</td></tr>')
    title = tag("caption", caption) if caption else ""
    # In a box of its own: a table wider than the page scrolls there, never past the page edge.
    return Markup(
        f'<div class="scroll"><table class="{esc(css)}">{title}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def badge(passed: bool | None, yes: str = "PASS", no: str = "FAIL") -> Markup:
    if passed is None:
        return Markup(f'<span class="badge none">{esc(DASH)}</span>')
    return Markup(
        f'<span class="badge {"pass" if passed else "fail"}">{esc(yes if passed else no)}</span>'
    )


def details(summary: str, *parts: Any) -> Markup:
    """A collapsed block: long reference material that would bury the figures."""
    return Markup(f"<details>{tag('summary', summary)}{join(parts)}</details>")


def paragraph(text: str, css: str = "") -> Markup:
    return tag("p", text, class_=css) if css else tag("p", text)


def figure(plot: Plot | None, missing: str) -> Markup:
    """The plot as an embedded PNG (a data URI: the page needs no other file)."""
    if plot is None:
        return paragraph(missing, "muted")
    if plot.error:
        return paragraph(f"The figure “{plot.title}” could not be drawn: {plot.error}", "warn")
    data = base64.b64encode(plot.png).decode("ascii")
    return Markup(
        f'<figure><img src="data:image/png;base64,{data}" alt="{esc(plot.title)}">'
        f"<figcaption>{esc(plot.title)}</figcaption></figure>"
    )


def section(anchor: str, title: str, *parts: Any) -> Markup:
    return Markup(f'<section id="{esc(anchor)}"><h2>{esc(title)}</h2>{join(parts)}</section>')


def _scalar(key: str, value: Any) -> Any:
    return REDACTED if is_secret(key, value) else value


def _is_record(value: Any) -> bool:
    return (
        isinstance(value, Mapping)
        and bool(value)
        and not any(isinstance(v, Mapping | list | tuple) for v in value.values())
    )


def nested(value: Any, key: str = "", depth: int = 0) -> Markup:
    """Any JSON-like value as HTML: mappings as key/value tables, lists of records as tables.

    Keys or values that look like credentials are redacted; depth and length are bounded.
    """
    if depth > NESTED_DEPTH_MAX:
        return Markup(esc("…"))
    if isinstance(value, Mapping):
        if not value:
            return Markup(esc(DASH))
        if len(value) > 1 and all(_is_record(v) for v in value.values()):
            # {name: {field: scalar}} reads best as one table, a row per name.
            records = [{"": k, **dict(v)} for k, v in value.items()]
            return nested(records, key, depth)
        rows = [
            (Markup(f"<th>{esc(k)}</th>"), nested(_scalar(str(k), v), str(k), depth + 1))
            for k, v in list(value.items())[:NESTED_ROWS_MAX]
        ]
        body = "".join(f"<tr>{k}<td>{v}</td></tr>" for k, v in rows)
        inner = f'<table class="nested"><tbody>{body}</tbody></table>'
        return Markup(inner if depth else f'<div class="scroll">{inner}</div>')
    if isinstance(value, list | tuple):
        items = list(value)[:NESTED_ROWS_MAX]
        if items and all(isinstance(item, Mapping) for item in items):
            columns: list[str] = []
            for item in items:
                columns.extend(str(k) for k in item if str(k) not in columns)
            rows_ = [
                [nested(_scalar(c, item.get(c)), c, depth + 1) for c in columns] for item in items
            ]
            return table(columns, rows_, numeric_from=len(columns), css="nested")
        if not items:
            return Markup(esc(DASH))
        return Markup(esc(", ".join(plain(_scalar(key, item)) for item in items)))
    return Markup(cell(_scalar(key, value)))


CSS = """
:root {
  --ink:#1d2330; --muted:#5f6b7a; --line:#d9dee5; --pass:#1a7f37; --fail:#cf222e;
  --warn-bg:#fff4e5; --warn:#9a4d00; --bg-alt:#f6f8fa; }
* { box-sizing: border-box; }
body {
  font: 14px/1.45 -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif;
  color: var(--ink); margin: 0 auto; max-width: 1120px; padding: 24px 28px 64px; }
h1 { font-size: 24px; margin: 8px 0 4px; }
h2 {
  font-size: 19px; margin: 36px 0 10px; padding-bottom: 4px;
  border-bottom: 2px solid var(--line); }
h3 { font-size: 15px; margin: 20px 0 6px; }
p { margin: 6px 0 10px; }
.muted, caption, figcaption { color: var(--muted); }
.banner {
  border-radius: 6px; padding: 14px 18px; margin: 12px 0; font-size: 16px; font-weight: 600; }
.banner ul { margin: 6px 0 0 18px; font-size: 14px; font-weight: 400; }
.banner.alarm { background: #ffebe9; border: 2px solid var(--fail); color: #82071e; }
.banner.cut { background: var(--warn-bg); border: 2px solid #d4a72c; color: var(--warn); }
.verdict {
  display: flex; align-items: center; gap: 16px; margin: 16px 0; padding: 16px 18px;
  border-radius: 6px; background: var(--bg-alt); border: 1px solid var(--line); }
.verdict .word { font-size: 30px; font-weight: 800; letter-spacing: 1px; }
.verdict.pass .word { color: var(--pass); }
.verdict.fail .word { color: var(--fail); }
.verdict.none .word { color: var(--muted); }
.keyfigs {
  display: grid; grid-template-columns: repeat(auto-fit, minmax(160px, 1fr)); gap: 8px;
  margin: 10px 0; }
.keyfigs div {
  background: var(--bg-alt); border: 1px solid var(--line); border-radius: 6px;
  padding: 8px 10px; }
.keyfigs b { display: block; font-size: 18px; }
.keyfigs span { color: var(--muted); font-size: 12px; }
.capacity { font-size: 17px; font-weight: 600; margin: 10px 0; }
table { border-collapse: collapse; margin: 8px 0 14px; font-variant-numeric: tabular-nums; }
th, td {
  border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left;
  vertical-align: top; }
thead th {
  background: var(--bg-alt); border-bottom: 2px solid var(--line); white-space: nowrap; }
td.num, th.num { text-align: right; white-space: nowrap; }
td:first-child { white-space: nowrap; }
tr.group td { border-top: 2px solid var(--line); }
details { margin: 8px 0; }
details summary { cursor: pointer; font-weight: 600; }
td.empty { color: var(--muted); font-style: italic; }
caption { caption-side: top; text-align: left; font-weight: 600; padding: 4px 0; }
table.nested { margin: 0; font-size: 13px; }
table.nested th {
  background: none; font-weight: 600; color: var(--muted); white-space: nowrap; }
.badge {
  display: inline-block; padding: 1px 8px; border-radius: 10px; font-weight: 700;
  font-size: 12px; color: #fff; }
.badge.pass { background: var(--pass); }
.badge.fail { background: var(--fail); }
.badge.none { background: var(--muted); }
.warn { background: var(--warn-bg); color: var(--warn); padding: 6px 10px; border-radius: 4px; }
figure { margin: 10px 0 18px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
nav { display: flex; flex-wrap: wrap; gap: 2px 14px; font-size: 13px; margin: 6px 0 4px; }
nav a { color: #0969da; text-decoration: none; white-space: nowrap; }
pre {
  background: var(--bg-alt); border: 1px solid var(--line); border-radius: 6px; padding: 10px;
  overflow-x: auto; font-size: 12px; max-height: 480px; }
dl.defs {
  display: grid; grid-template-columns: max-content 1fr; gap: 2px 14px; margin: 6px 0 12px; }
dl.defs dt { font-weight: 600; }
dl.defs dd { margin: 0; color: var(--muted); }
.scroll { overflow-x: auto; max-width: 100%; }
.scroll > table { margin: 8px 0 14px; }
/* A long word breaks at the edge of text; tables keep theirs and scroll in their box. */
body { overflow-wrap: break-word; }
.costfigs {
  display: grid; grid-template-columns: repeat(3, minmax(0, 1fr)); gap: 10px; margin: 12px 0; }
.costfigs div {
  background: var(--bg-alt); border: 1px solid var(--line); border-radius: 6px;
  padding: 10px 14px; min-width: 0; }
.costfigs b { display: block; font-size: 24px; font-variant-numeric: tabular-nums; }
.costfigs .per1000 b, .costfigs .per-answer b, .costfigs .billable b { font-size: 18px; }
.costfigs .difference { border-color: #d4a72c; background: var(--warn-bg); }
.costfigs span { color: var(--muted); font-size: 12px; display: block; }
table.reasons td:last-child { color: var(--muted); min-width: 320px; }
ol.footnotes { font-size: 13px; color: var(--muted); margin: 6px 0 12px; padding-left: 22px; }
sup a { color: #0969da; text-decoration: none; padding-left: 2px; }
@media (max-width: 800px) { .costfigs { grid-template-columns: repeat(2, minmax(0, 1fr)); } }
"""
