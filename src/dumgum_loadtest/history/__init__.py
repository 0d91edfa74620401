"""Run history: what each finished run measured, kept for comparison and trends."""

from dumgum_loadtest.history.record import Metric, RunRecord, read_run

__all__ = ["Metric", "RunRecord", "read_run"]
