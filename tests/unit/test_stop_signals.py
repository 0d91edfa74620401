"""SIGINT and SIGTERM during a run: both stop it alike, and the user keeps a way out."""

from __future__ import annotations

import os
import signal

from dumgum_loadtest.run import StopSignals


def test_sigterm_and_sigint_are_recorded_and_the_third_signal_is_not_swallowed() -> None:
    before = {signum: signal.getsignal(signum) for signum in StopSignals.HANDLED}
    with StopSignals() as signals:
        assert signal.getsignal(signal.SIGTERM) != before[signal.SIGTERM]
        os.kill(os.getpid(), signal.SIGTERM)  # what CI sends on a timeout: no exit here
        assert signals.received == ["SIGTERM"]
        os.kill(os.getpid(), signal.SIGINT)  # no KeyboardInterrupt either
        assert signals.received == ["SIGTERM", "SIGINT"]
        # After two, the previous handlers are back: a third would end the process at once.
        for signum, handler in before.items():
            assert signal.getsignal(signum) == handler


def test_the_previous_handlers_are_restored_after_the_run() -> None:
    before = {signum: signal.getsignal(signum) for signum in StopSignals.HANDLED}
    with StopSignals() as signals:
        os.kill(os.getpid(), signal.SIGINT)
    assert signals.received == ["SIGINT"]
    for signum, handler in before.items():
        assert signal.getsignal(signum) == handler
