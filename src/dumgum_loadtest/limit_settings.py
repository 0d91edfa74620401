"""The limit options the mock and the receiver share (``DUMGUM_MOCK_*``, ``DUMGUM_RECEIVER_*``)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings

from dumgum_loadtest.limits import KIB, MIB, ServerLimits


class LimitSettings(BaseSettings):
    """Per-request bounds; a request past one is refused (413, 431) or its connection closed."""

    max_body_bytes: int = Field(
        default=MIB, ge=1, description="Largest request body; a larger one is answered 413."
    )
    max_header_bytes: int = Field(
        default=64 * KIB, ge=1024, description="Largest request head; larger is answered 431."
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="Time to send the request head; then the connection ends."
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="Time to send the body once the head is in."
    )
    keep_alive_s: int = Field(
        default=5, ge=1, description="Idle time a connection is kept between requests."
    )

    def server_limits(self) -> ServerLimits:
        return ServerLimits(
            max_body_bytes=self.max_body_bytes,
            max_header_bytes=self.max_header_bytes,
            header_timeout_s=self.header_timeout_s,
            body_timeout_s=self.body_timeout_s,
            keep_alive_s=self.keep_alive_s,
        )
