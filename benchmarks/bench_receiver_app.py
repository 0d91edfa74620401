"""The receiver app's own CPU per event: its whole ASGI stack, called in process, no server.

Builds the receiver (memory state), opens its shards and calls it as uvicorn would with
``bench_receiver.py``'s ``answer.created`` events, then prints the CPU time per event in µs
(the last line, a number alone). The HTTP server's share is left out: it is the same for any
version of the app, so comparing two versions side by side shows the app's change alone:

    farm-bench -n 5 --pin 1 --vs "sh -c 'exec env PYTHONPATH=OTHER/src python \\
        benchmarks/bench_receiver_app.py >>/tmp/b.txt'" -- sh -c 'exec python \\
        benchmarks/bench_receiver_app.py >>/tmp/a.txt'
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_receiver import answer_created  # the sibling module: scripts run by path

from dumgum_loadtest.clock import iso_from_ns, now_ns
from dumgum_loadtest.receiver import ReceiverSettings, create_receiver_app


async def cpu_us_per_event(events: int, out_dir: Path) -> float:
    app = create_receiver_app(ReceiverSettings(out_dir=out_dir))
    receiver = app.state.receiver
    receiver.recorder.open()
    state = getattr(receiver, "state", None)  # versions before the shared state had none
    if state is not None:
        await state.start()
    created_at = iso_from_ns(now_ns())
    bodies = [answer_created(n, "app", created_at) for n in range(events)]
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/incoming",
        "raw_path": b"/incoming",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json"), (b"content-length", b"691")],
        "client": ("127.0.0.1", 50000),
    }

    async def send(message: Any) -> None:
        return None

    started_s = time.process_time()
    for body in bodies:
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive(messages: list[dict[str, Any]] = messages) -> dict[str, Any]:
            return messages.pop()

        await app(dict(scope), receive, send)
    cpu_s = time.process_time() - started_s
    if state is not None:
        await state.close()
    receiver.recorder.close()
    return 1e6 * cpu_s / events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-receiver-app-") as tmp:
        print(f"{asyncio.run(cpu_us_per_event(args.events, Path(tmp))):.2f}")


if __name__ == "__main__":
    main()
