"""Trends across the history: a series per scenario and headline metric, change points marked.

``series.build_trends(frame, metrics=..., by=...)`` turns the history's metrics frame into
``Trends`` (series and their change points: ``changepoints.py``, thresholds in
``settings.py``); ``output.write_trends(trends, out_dir)`` writes ``trends.html``
(``page.py``, figures from ``plots.py``) and ``trends.json`` (``export.py``).
``dumgum-loadtest trends`` is ``command.py``. Importing this package imports nothing heavy:
the command line loads it at start.
"""
