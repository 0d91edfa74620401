"""``run --receiver-url``: a receiver the run does not start (a Kubernetes Service in front of a
receiver Deployment, or ``dumgum-loadtest receiver --processes N`` started by hand).

The run still reads everything from its own run directory, so such a receiver must write its
shards into ``RUN_DIR/raw`` (its pods mount the volume the run writes to and are started with
``--out RUN_DIR/raw``), must keep its state in Redis/Valkey (a load balancer spreads one
conversation's webhooks and waits over its processes: state in memory would split them), and
must answer its control API (``/_receiver/*``: stats, waits, message registration) to this
run, over the network, with the secret path both know (``DUMGUM_RECEIVER_SECRET_PATH``).
``check_external_receiver`` asks it all of that before anything is started or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.receiver.state import MEMORY_STATE
from dumgum_loadtest.records import RAW_DIR

OPTION = "--receiver-url"
PROBE_TIMEOUT_S = 5.0
SHARD_PATTERNS = ("events-*.jsonl", "calls-*.jsonl")


@dataclass(frozen=True)
class ExternalReceiver:
    base_url: str  # as given, without a trailing slash
    control_url: str  # base_url plus the secret path segment, when there is one
    state: str  # the receiver's shared state, as its stats name it (redis://...)


def check_receiver_url(url: str) -> str:
    """``http(s)://HOST[:PORT][/PREFIX]``, without a trailing slash; else a ConfigError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query:
        raise ConfigError(
            f"{OPTION} {url!r}: give the http(s)://HOST:PORT of a running `dumgum-loadtest"
            " receiver`, e.g. http://dumgum-loadtest-receiver:8090"
        )
    return url.rstrip("/")


def check_external_receiver(url: str, secret_path: str | None, run_dir: Path) -> ExternalReceiver:
    """The receiver at ``url`` answers /health, lets this run use its control API with
    ``secret_path``, shares its state in Redis and writes its shards into ``run_dir``/raw;
    else a one-line ConfigError naming what is missing."""
    base_url = check_receiver_url(url)
    control_url = f"{base_url}/{secret_path}" if secret_path else base_url
    with httpx.Client(timeout=PROBE_TIMEOUT_S) as client:
        try:
            health = client.get(f"{base_url}/health")
        except httpx.TransportError as exc:
            raise ConfigError(
                f"{OPTION} {base_url}: unreachable ({type(exc).__name__}: {exc or 'no answer'});"
                " start the receiver first (or check its Service and port)"
            ) from None
        if health.status_code != 200:
            raise ConfigError(
                f"{OPTION} {base_url}: GET /health answered {health.status_code}, not 200;"
                " is it a `dumgum-loadtest receiver`?"
            )
        try:
            stats = client.get(f"{control_url}/_receiver/stats")
        except httpx.TransportError as exc:
            raise ConfigError(
                f"{OPTION} {base_url}: its control API did not answer ({exc})"
            ) from None
    stats_json = _control_answer(stats, base_url, secret_path)
    state = str(stats_json.get("state"))
    if state == MEMORY_STATE:
        raise ConfigError(
            f"{OPTION} {base_url}: the receiver keeps its state in memory, per process; start"
            " every receiver process with --state redis://HOST:PORT/DB (one Redis/Valkey for"
            " all), so waits and chat histories hold whichever process or pod answers"
        )
    _check_shards_land_in(run_dir, stats_json, base_url)
    return ExternalReceiver(base_url, control_url, state)


def _control_answer(response: httpx.Response, base_url: str, secret_path: str | None) -> Any:
    status = response.status_code
    if status == 200:
        try:
            document = response.json()
        except ValueError:
            document = None
        if isinstance(document, dict):
            return document
        raise ConfigError(
            f"{OPTION} {base_url}: /_receiver/stats is not a receiver's JSON; is it a"
            " `dumgum-loadtest receiver`?"
        )
    if status == 404:
        raise ConfigError(
            f"{OPTION} {base_url}: the receiver refused its control API (404):"
            + (
                " DUMGUM_RECEIVER_SECRET_PATH here is not the receiver's secret path (or the"
                " receiver has none)"
                if secret_path
                else " it has a secret path; set DUMGUM_RECEIVER_SECRET_PATH to the same here"
            )
        )
    if status == 403:
        raise ConfigError(
            f"{OPTION} {base_url}: the receiver has no secret, so its control API answers"
            " loopback clients only; start it with DUMGUM_RECEIVER_SECRET_PATH set, and set"
            " the same here"
        )
    if status == 401:
        raise ConfigError(
            f"{OPTION} {base_url}: the receiver requires a header (--require-header); run"
            " uses a secret path only: start it with DUMGUM_RECEIVER_SECRET_PATH instead"
        )
    raise ConfigError(f"{OPTION} {base_url}: /_receiver/stats answered {status}, not 200")


def _check_shards_land_in(run_dir: Path, stats: dict[str, Any], base_url: str) -> None:
    expected = run_dir / RAW_DIR
    files = stats.get("files")
    events = files.get("events") if isinstance(files, dict) else None
    writes_to = Path(str(events)).parent if events else None
    if writes_to is None or not _same_directory(writes_to, expected):
        raise ConfigError(
            f"{OPTION} {base_url}: the receiver writes its shards to {writes_to}, not into this"
            f" run's {expected}; start every receiver process with --out {expected.resolve()}"
            " on a volume this run shares (the same path in every pod)"
        )


def _same_directory(theirs: Path, ours: Path) -> bool:
    try:
        return theirs.is_absolute() and theirs.samefile(ours)
    except OSError:
        return False


def unused_shards_only(raw_dir: Path) -> bool:
    """Whether ``raw_dir`` holds nothing but the empty shards a just-started receiver opens."""
    for path in raw_dir.iterdir():
        if not any(path.match(pattern) for pattern in SHARD_PATTERNS):
            return False
        if not path.is_file() or path.stat().st_size > 0:
            return False
    return True
