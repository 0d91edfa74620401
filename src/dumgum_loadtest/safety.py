"""What keeps a run against the real API safe: the token, test mode, a rate guard, a spend cap.

The real API is contacted only when the user names its URL. The token is read from the
environment only and never written anywhere; every request is ``testMode: true`` unless
billable traffic is explicitly allowed together with a spend cap.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from decimal import Decimal

from dumgum_loadtest.errors import SafetyError

TOKEN_ENV = "DUMGUM_API_TOKEN"
DEFAULT_MAX_RATE_RPS = 5.0  # for a real URL, unless --max-rate says otherwise


@dataclass(frozen=True, slots=True)
class BillingPolicy:
    force_test_mode: bool
    spend_cap_eur: Decimal | None


def is_real_target(target: str) -> bool:
    return target != "mock"


def api_token(environ: dict[str, str] | None = None) -> str:
    """The real API's access key, from ``DUMGUM_API_TOKEN`` only."""
    env = os.environ if environ is None else environ
    token = env.get(TOKEN_ENV, "").strip()
    if not token:
        raise SafetyError(
            f"{TOKEN_ENV} is not set, so no request can be authorised. Create an access key"
            " in DumGum's dashboard (Project > Access Keys), then: export"
            f" {TOKEN_ENV}=sk-proj-... (it is read from the environment only, never from a"
            " file or the command line, and never written anywhere)"
        )
    return token


def billing_policy(
    target: str, allow_billable: bool, spend_cap_eur: Decimal | None
) -> BillingPolicy:
    """Test mode is forced on a real URL unless billable traffic is allowed with a cap."""
    if spend_cap_eur is not None and spend_cap_eur <= 0:
        raise SafetyError(f"--spend-cap-eur must be positive, got {spend_cap_eur}")
    if allow_billable and spend_cap_eur is None:
        raise SafetyError("--allow-billable needs --spend-cap-eur X: the run stops at that spend")
    if spend_cap_eur is not None and not allow_billable:
        raise SafetyError("--spend-cap-eur applies to billable traffic: add --allow-billable")
    if not is_real_target(target):
        return BillingPolicy(force_test_mode=False, spend_cap_eur=None)
    return BillingPolicy(force_test_mode=not allow_billable, spend_cap_eur=spend_cap_eur)


def check_rate(target: str, peak_rate_rps: float, max_rate_rps: float | None) -> None:
    """Refuse a real-URL run whose offered peak exceeds the guard."""
    if not is_real_target(target):
        return
    limit = DEFAULT_MAX_RATE_RPS if max_rate_rps is None else max_rate_rps
    if peak_rate_rps > limit:
        raise SafetyError(
            f"the scenario offers up to {peak_rate_rps:g} requests/s to {target}, above the"
            f" guard of {limit:g}/s; lower --rate or raise --max-rate deliberately"
        )


def redact(text: str, secret: str | None) -> str:
    """``text`` with every occurrence of ``secret`` masked."""
    if not secret:
        return text
    return text.replace(secret, "***")
