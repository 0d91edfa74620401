"""Writes a ``Trends`` as ``trends.html`` and ``trends.json`` in a directory."""

from __future__ import annotations

import json
from pathlib import Path

from dumgum_loadtest.trends.export import trends_document
from dumgum_loadtest.trends.page import render_page
from dumgum_loadtest.trends.plots import render_series
from dumgum_loadtest.trends.series import Trends

HTML_NAME = "trends.html"
JSON_NAME = "trends.json"


def _write_atomic(path: Path, data: bytes) -> None:
    """Readers never see half a file: write beside it, then rename over it."""
    partial = path.with_name(f".{path.name}.partial")
    partial.write_bytes(data)
    partial.replace(path)


def write_trends(trends: Trends, out_dir: Path) -> list[Path]:
    """``out_dir/trends.html`` and ``out_dir/trends.json`` (``out_dir`` must exist)."""
    plots = [render_series(series, number) for number, series in enumerate(trends.series)]
    html_path = out_dir / HTML_NAME
    _write_atomic(html_path, render_page(trends, plots).encode("utf-8"))
    json_path = out_dir / JSON_NAME
    document = json.dumps(trends_document(trends), indent=2, allow_nan=False) + "\n"
    _write_atomic(json_path, document.encode("utf-8"))
    return [html_path, json_path]
