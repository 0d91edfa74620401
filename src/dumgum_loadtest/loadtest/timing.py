"""Waiting for an intended send time in a gevent process, to well under a millisecond.

gevent's timers wake up to about a millisecond late: libev's epoll backend waits in whole
milliseconds. ``sleep_until`` sleeps on a timer until ``SPIN_NS`` before the deadline, then
yields to the other greenlets (``sleep(0)``: responses keep being read) until it is due.
"""

from __future__ import annotations

import time

import gevent

SPIN_NS = 1_500_000
_NS = 1_000_000_000


def sleep_until(deadline_ns: int) -> None:
    """Return at epoch ``deadline_ns`` (or at once when it has passed)."""
    delay_ns = deadline_ns - time.time_ns()
    if delay_ns > SPIN_NS:
        gevent.sleep((delay_ns - SPIN_NS) / _NS)
    while time.time_ns() < deadline_ns:
        gevent.sleep(0)
