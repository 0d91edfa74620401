"""Safety rules for real targets: token from the environment, test mode, rate guard, cap."""

from __future__ import annotations

from decimal import Decimal

import pytest

from dumgum_loadtest.errors import SafetyError
from dumgum_loadtest.safety import api_token, billing_policy, check_rate, redact

URL = "https://api.dumgum.com"


def test_token_comes_only_from_the_environment() -> None:
    assert api_token({"DUMGUM_API_TOKEN": " sk-proj-abc "}) == "sk-proj-abc"
    with pytest.raises(SafetyError, match="export DUMGUM_API_TOKEN="):
        api_token({})


def test_real_url_forces_test_mode_by_default() -> None:
    assert billing_policy(URL, False, None).force_test_mode
    assert not billing_policy("mock", False, None).force_test_mode


def test_billable_needs_a_spend_cap_and_vice_versa() -> None:
    with pytest.raises(SafetyError, match="--spend-cap-eur"):
        billing_policy(URL, True, None)
    with pytest.raises(SafetyError, match="--allow-billable"):
        billing_policy(URL, False, Decimal("5"))
    with pytest.raises(SafetyError, match="positive"):
        billing_policy(URL, True, Decimal("0"))
    policy = billing_policy(URL, True, Decimal("2.50"))
    assert not policy.force_test_mode and policy.spend_cap_eur == Decimal("2.50")


def test_rate_guard_applies_to_real_urls_only() -> None:
    check_rate("mock", 5000, None)
    check_rate(URL, 4, None)
    with pytest.raises(SafetyError, match="--max-rate"):
        check_rate(URL, 50, None)
    check_rate(URL, 50, 60)


def test_redact() -> None:
    assert redact("Bearer sk-proj-x failed", "sk-proj-x") == "Bearer *** failed"
    assert redact("nothing", None) == "nothing"
