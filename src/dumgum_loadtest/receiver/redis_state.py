"""The receiver's state in Redis or Valkey, shared by every receiver process of a run.

Keys, under ``PREFIX`` (default ``dumgum-receiver``), for a pair (user U, persona P):

- ``PREFIX:h:<len(U)>:U:P``: the pair's history, a sorted set scored by the message date in
  milliseconds; each member is ``<seq:16 hex><len(id):8 hex><id><payload JSON>``, so equal
  dates keep arrival order (``seq`` comes from ``PREFIX:seq``) and the JSON goes out as kept.
- ``PREFIX:i:<len(U)>:U:P``: the message ids the pair holds (duplicate deliveries).
- ``PREFIX:t:<len(U)>:U:P``: ``<recv_ns:020d> <event>``, the pair's last terminal event.
- ``PREFIX:profiles``: a hash, profile id → times bumped.
- ``PREFIX:w:<len(U)>:U:P``: set while some process waits on the pair (expires with the
  wait): only then is a terminal event published, on channel ``PREFIX:turns``, where every
  process listens and wakes its own waits. A busy run without waits publishes nothing.

Each write is one Lua script (atomic). The writes of the events a process handles at the
same time go to the server together, one pipeline and one round trip (``_ScriptBatches``):
each event still waits for its own write before it is answered. Pair keys expire after
``ttl_s`` without use, where the in-memory state evicts its least recently used pairs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Sequence
from typing import Any

import orjson
import redis
import redis.asyncio as aioredis
from redis.exceptions import NoScriptError, RedisError

from dumgum_loadtest.errors import TargetError
from dumgum_loadtest.receiver.history import HistoryEntry, Pair
from dumgum_loadtest.receiver.state import StateError, Terminal, shown_url
from dumgum_loadtest.receiver.waits import PendingWaits, TerminalEvent, event_or_timeout

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "dumgum-receiver"
_NS_PER_MS = 1_000_000

# KEYS: history, ids, seq, last, waited. ARGV: has_entry, id, date_ms, payload, max_messages, ttl_s,
# has_terminal, last value ("<recv_ns:020d> <event>"), channel, published message.
_RECORD = """
local ttl = ARGV[6]
if ARGV[1] == '1' then
  if redis.call('SISMEMBER', KEYS[2], ARGV[2]) == 0 then
    local seq = redis.call('INCR', KEYS[3])
    local member = string.format('%016x%08x', seq, #ARGV[2]) .. ARGV[2] .. ARGV[4]
    redis.call('ZADD', KEYS[1], ARGV[3], member)
    redis.call('SADD', KEYS[2], ARGV[2])
    local excess = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[5])
    if excess > 0 then
      local popped = redis.call('ZPOPMIN', KEYS[1], excess)
      for i = 1, #popped, 2 do
        local m = popped[i]
        redis.call('SREM', KEYS[2], string.sub(m, 25, 24 + tonumber(string.sub(m, 17, 24), 16)))
      end
    end
  end
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
end
if ARGV[7] == '1' then
  local previous = redis.call('GET', KEYS[4])
  if (not previous) or string.sub(previous, 1, 20) <= string.sub(ARGV[8], 1, 20) then
    redis.call('SET', KEYS[4], ARGV[8], 'EX', ttl)
  end
  if redis.call('EXISTS', KEYS[5]) == 1 then
    redis.call('PUBLISH', ARGV[9], ARGV[10])
  end
end
return 0
"""

# KEYS: history, ids. ARGV: min score ("-inf" or "(<ms>"), ttl_s. Reading is a use.
_READ = """
local members = redis.call('ZRANGEBYSCORE', KEYS[1], ARGV[1], '+inf')
if #members > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
return members
"""


def check_reachable(url: str, option: str = "--state", timeout_s: float = 3.0) -> None:
    """Before serving: a TargetError naming ``url`` when no Redis/Valkey answers there."""
    try:
        with redis.Redis.from_url(url, socket_connect_timeout=timeout_s) as client:
            client.ping()
    except (RedisError, OSError, ValueError) as exc:
        raise TargetError(
            f"{option} {shown_url(url)}: no Redis or Valkey server answers there ({exc});"
            f" start one, or give {option} memory for one process"
        ) from exc


MAX_CONNECTIONS = 32
"""Per process; a request beyond waits for a free connection (up to CONNECTION_WAIT_S)."""
CONNECTION_WAIT_S = 10.0

Call = tuple[list[str], list[str | int | bytes], "asyncio.Future[Any]"]


class _ScriptBatches:
    """Calls of one Lua script, sent in batches: whatever was queued while the previous batch
    was on the wire goes in the next pipeline, so a busy process pays one round trip (and one
    send) for many events instead of one each."""

    def __init__(self, client: aioredis.Redis, script: str) -> None:
        self._client = client
        self._script = script
        self._sha = ""
        self._queue: list[Call] = []
        self._sender: asyncio.Task[None] | None = None

    async def load(self) -> None:
        self._sha = await self._client.script_load(self._script)

    async def __call__(self, keys: list[str], args: list[str | int | bytes]) -> Any:
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._queue.append((keys, args, future))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_batches())
        return await future

    async def _send_batches(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                results = await self._execute(batch)
            except NoScriptError:  # the server restarted and lost its scripts
                try:
                    await self.load()
                    results = await self._execute(batch)
                except Exception as exc:  # every waiting request must hear of it
                    results = [exc] * len(batch)
            except Exception as exc:
                results = [exc] * len(batch)
            for (_, _, future), result in zip(batch, results, strict=True):
                if future.done():
                    continue  # its request was cancelled (client gone)
                if isinstance(result, Exception):
                    future.set_exception(result)
                else:
                    future.set_result(result)

    async def _execute(self, batch: list[Call]) -> list[Any]:
        async with self._client.pipeline(transaction=False) as pipe:
            for keys, args, _ in batch:
                pipe.evalsha(self._sha, len(keys), *keys, *args)
            results: list[Any] = await pipe.execute(raise_on_error=False)
        if any(isinstance(result, NoScriptError) for result in results):
            raise NoScriptError("NOSCRIPT")
        return results


def _pair_key(prefix: str, kind: str, pair: Pair) -> str:
    user_id, persona_id = pair
    return f"{prefix}:{kind}:{len(user_id)}:{user_id}:{persona_id}"


def _payload(member: bytes) -> bytes:
    id_length = int(member[16:24], 16)
    return member[24 + id_length :]


def _last_value(event: TerminalEvent) -> str:
    return f"{event.recv_ns:020d} {event.event}"


class RedisState:
    """``ReceiverState`` in a Redis or Valkey server at ``url``; see the module's doc."""

    def __init__(
        self,
        url: str,
        max_messages_per_pair: int,
        max_waits: int,
        ttl_s: int,
        prefix: str = DEFAULT_PREFIX,
    ) -> None:
        self.url = shown_url(url)  # for messages and stats; the client has the real one
        self.max_messages_per_pair = max_messages_per_pair
        self.ttl_s = ttl_s
        self.prefix = prefix
        self.channel = f"{prefix}:turns"
        pool = aioredis.BlockingConnectionPool.from_url(
            url, max_connections=MAX_CONNECTIONS, timeout=CONNECTION_WAIT_S
        )
        self._client: aioredis.Redis = aioredis.Redis.from_pool(pool)
        self._record = _ScriptBatches(self._client, _RECORD)
        self._read = _ScriptBatches(self._client, _READ)
        self._pending = PendingWaits(max_waits)
        self._listener: asyncio.Task[None] | None = None
        self._pubsub: Any = None  # redis.asyncio.client.PubSub once started
        self.failures = 0  # operations the server failed; the events are recorded anyway

    def _error(self, operation: str, exc: Exception) -> StateError:
        self.failures += 1
        return StateError(f"state {self.url}: {operation} failed: {exc}")

    async def start(self) -> None:
        """Check the server answers, then subscribe to turn ends before the first request."""
        try:
            await self._client.ping()
            await self._record.load()
            await self._read.load()
            self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            await self._pubsub.subscribe(self.channel)
        except (RedisError, OSError) as exc:
            raise self._error("connecting", exc) from exc
        self._listener = asyncio.create_task(self._listen(), name="receiver-state-turns")

    async def _listen(self) -> None:
        assert self._pubsub is not None
        while True:
            try:
                message = await self._pubsub.get_message(timeout=None)
            except (RedisError, OSError) as exc:
                self.failures += 1
                log.warning(
                    "state %s: listening for turn ends failed (%s); retrying", self.url, exc
                )
                await asyncio.sleep(0.5)
                continue
            if message is None or message.get("type") != "message":
                continue
            user_id, persona_id, name, recv_ns = orjson.loads(message["data"])
            self._pending.wake((user_id, persona_id), TerminalEvent(name, recv_ns))

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()
        await self._client.aclose()

    async def record(self, entry: HistoryEntry | None, terminal: Terminal | None) -> None:
        if entry is not None and terminal is not None and entry.pair != terminal[0]:
            await self.record(entry, None)  # never from one event; kept correct all the same
            await self.record(None, terminal)
            return
        if entry is not None:
            pair = entry.pair
        elif terminal is not None:
            pair = terminal[0]
        else:
            return
        args: list[str | int | bytes] = ["0", "", 0, b"", 0, self.ttl_s, "0", "", "", b""]
        if entry is not None:
            payload = orjson.dumps(entry.payload)
            date_ms = entry.date_ns // _NS_PER_MS
            args[0:5] = ["1", entry.message_id, date_ms, payload, self.max_messages_per_pair]
        if terminal is not None:
            event = terminal[1]
            message = orjson.dumps([*pair, event.event, event.recv_ns])
            args[6:10] = ["1", _last_value(event), self.channel, message]
        prefix = self.prefix
        keys = [
            _pair_key(prefix, "h", pair),
            _pair_key(prefix, "i", pair),
            f"{prefix}:seq",
            _pair_key(prefix, "t", pair),
            _pair_key(prefix, "w", pair),
        ]
        try:
            await self._record(keys, args)
        except (RedisError, OSError) as exc:
            raise self._error("recording an event", exc) from exc

    async def add_messages(self, entries: Sequence[HistoryEntry]) -> None:
        for entry in entries:
            await self.record(entry, None)

    async def messages(self, pair: Pair, after_ns: int | None) -> list[dict[str, Any]]:
        # Dates are whole milliseconds: newer than after_ns is above its millisecond, floored.
        low = "-inf" if after_ns is None else f"({after_ns // _NS_PER_MS}"
        keys = [_pair_key(self.prefix, "h", pair), _pair_key(self.prefix, "i", pair)]
        try:
            members = await self._read(keys, [low, self.ttl_s])
        except (RedisError, OSError) as exc:
            raise self._error("reading a chat history", exc) from exc
        return [orjson.loads(_payload(member)) for member in members]

    async def profile_version(self, profile_id: str) -> str:
        try:
            bumps = await self._client.hget(f"{self.prefix}:profiles", profile_id)
        except (RedisError, OSError) as exc:
            raise self._error("reading a profile version", exc) from exc
        return f"v{1 + int(bumps or 0)}"

    async def bump_profile(self, profile_id: str) -> str:
        try:
            bumps = await self._client.hincrby(f"{self.prefix}:profiles", profile_id, 1)
        except (RedisError, OSError) as exc:
            raise self._error("bumping a profile version", exc) from exc
        return f"v{1 + int(bumps)}"

    async def _latest(
        self, pair: Pair, after_ns: int, waiting_s: float = 0.0
    ) -> TerminalEvent | None:
        """The pair's last turn end if after ``after_ns``; with ``waiting_s``, first marks the
        pair as waited on that long, so that its next end is published (one round trip)."""
        last_key = _pair_key(self.prefix, "t", pair)
        try:
            if waiting_s > 0:
                async with self._client.pipeline(transaction=False) as pipe:
                    expire_s = math.ceil(waiting_s) + 1
                    pipe.set(_pair_key(self.prefix, "w", pair), b"1", ex=expire_s)
                    pipe.get(last_key)
                    _, value = await pipe.execute()
            else:
                value = await self._client.get(last_key)
        except (RedisError, OSError) as exc:
            raise self._error("reading a turn end", exc) from exc
        if value is None:
            return None
        text = value.decode() if isinstance(value, bytes) else value
        recv_text, _, name = text.partition(" ")
        recv_ns = int(recv_text)
        return TerminalEvent(name, recv_ns) if recv_ns > after_ns else None

    async def wait(self, pair: Pair, after_ns: int, timeout_s: float) -> TerminalEvent | None:
        if timeout_s <= 0:
            return await self._latest(pair, after_ns)
        # Registered, and the pair marked, before the look-up: an end recorded after it is
        # published and wakes this wait.
        with self._pending.register(pair, after_ns) as future:
            event = await self._latest(pair, after_ns, waiting_s=timeout_s)
            if event is not None:
                return event
            return await event_or_timeout(future, timeout_s)

    def stats(self) -> dict[str, Any]:
        return {
            "state": self.url,
            "pairs": None,  # in the server, shared: not counted per process
            "evicted_pairs": None,
            "duplicate_messages": None,
            "state_server_failures": self.failures,
            "waits": {"pending": self._pending.waiting, "pairs": None},
        }
