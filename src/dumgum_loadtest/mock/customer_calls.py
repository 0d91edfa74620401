"""The mock's calls to the customer's chat-history and profile endpoints (``GET``)."""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus

import orjson
from yarl import URL

from dumgum_loadtest.clock import iso_from_ns, ns_from_iso
from dumgum_loadtest.mock.http_client import OutboundClient, OutboundError
from dumgum_loadtest.mock.ledger import Ledger

CALL_TIMEOUT_S = 10.0


@dataclass(slots=True)
class ProfileInfo:
    """What the mock keeps of a profile: the version it holds and the picture vision reads."""

    version: str | None
    main_picture_url: str | None = None


@dataclass(slots=True)
class HistorySummary:
    """What the mock needs from a chat history: the newest date and pictures the user shared."""

    newest_ns: int | None = None
    shared_picture_urls: list[str] = field(default_factory=list)


class ProfileCache:
    """Profiles by id, least recently used evicted past ``capacity`` (bounded memory)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: OrderedDict[str, ProfileInfo] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, profile_id: str) -> ProfileInfo | None:
        info = self._items.get(profile_id)
        if info is not None:
            self._items.move_to_end(profile_id)
        return info

    def put(self, profile_id: str, info: ProfileInfo) -> None:
        self._items[profile_id] = info
        self._items.move_to_end(profile_id)
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)

    def needs_fetch(self, profile_id: str, requested_version: str | None) -> bool:
        """On first sight, and whenever the enqueue names a version other than the stored one."""
        info = self.get(profile_id)
        if info is None:
            return True
        return requested_version is not None and requested_version != info.version


class CustomerClient:
    def __init__(self, http: OutboundClient, ledger: Ledger) -> None:
        self._http = http
        self._ledger = ledger
        self._bases: dict[str, str] = {}  # configured URL -> its quoted form, parsed once

    async def chat_history(
        self, url: str | None, user_id: str, persona_id: str, last_message_ns: int | None
    ) -> HistorySummary:
        if url is None:
            return HistorySummary()
        params = {"userProfileId": user_id, "personaProfileId": persona_id}
        if last_message_ns is not None:
            params["lastMessageDate"] = iso_from_ns(last_message_ns)
        self._ledger.chat_history_calls += 1
        body = await self._get(url, params)
        summary = HistorySummary(newest_ns=last_message_ns)
        messages = body.get("messages") if isinstance(body, dict) else None
        if not isinstance(messages, list):
            return summary
        for message in messages:
            if not isinstance(message, dict):
                continue
            date = message.get("date")
            if isinstance(date, str):
                try:
                    date_ns = ns_from_iso(date)
                except ValueError:
                    date_ns = None
                if date_ns is not None and (
                    summary.newest_ns is None or date_ns > summary.newest_ns
                ):
                    summary.newest_ns = date_ns
            if message.get("sender") == "USER":
                urls = message.get("pictureUrls")
                if isinstance(urls, list):
                    summary.shared_picture_urls.extend(u for u in urls if isinstance(u, str))
        return summary

    async def profile(self, url: str | None, profile_id: str) -> dict[str, Any] | None:
        if url is None:
            return None
        self._ledger.profile_calls += 1
        body = await self._get(url, {"profileId": profile_id})
        profile = body.get("profile") if isinstance(body, dict) else None
        return profile if isinstance(profile, dict) else None

    async def _get(self, url: str, params: dict[str, str]) -> Any:
        # The base is quoted once per URL and the query encoded here: yarl's quoter on every
        # call was a measurable share of the mock's CPU at thousands of calls per second.
        base = self._bases.get(url)
        if base is None:
            base = self._bases[url] = str(URL(url))
        separator = "&" if "?" in base else "?"
        target = f"{base}{separator}{_query(params)}"
        try:
            response = await self._http.request("GET", target, timeout_s=CALL_TIMEOUT_S)
            if response.status != 200:
                self._ledger.customer_call_failures += 1
                return None
            return orjson.loads(response.body)
        except (OutboundError, TimeoutError, OSError, orjson.JSONDecodeError):
            self._ledger.customer_call_failures += 1
            return None


_NEEDS_NO_QUOTING = re.compile(r"[A-Za-z0-9_.~-]*")  # what quote_plus leaves as it is


def _query(params: dict[str, str]) -> str:
    """``urlencode(params)`` for string values under literal keys, without its type checks
    and per-key quoting (a tenth of the customer-call path outside aiohttp, by cProfile);
    the usual ids need no quoting at all, and a regex says so faster than ``quote_plus``."""
    return "&".join(
        [
            f"{key}={value if _NEEDS_NO_QUOTING.fullmatch(value) else quote_plus(value)}"
            for key, value in params.items()
        ]
    )
