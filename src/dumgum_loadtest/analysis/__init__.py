"""Analysis of a run's raw records: outcomes, latency to the webhook, drops (pandas)."""
