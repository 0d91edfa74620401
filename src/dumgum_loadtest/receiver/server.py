"""Run the receiver in the foreground, as the ``dumgum-loadtest receiver`` command does."""

from __future__ import annotations

from dumgum_loadtest.receiver.app import create_receiver_app
from dumgum_loadtest.receiver.settings import ReceiverSettings
from dumgum_loadtest.serving import serve_forever


def serve_receiver(settings: ReceiverSettings | None = None, log_level: str = "warning") -> None:
    """Serve the receiver on ``settings.host:settings.port`` until interrupted."""
    settings = settings or ReceiverSettings()
    serve_forever(
        create_receiver_app(settings),
        settings.host,
        settings.port,
        log_level,
        settings.server_limits(),
    )
