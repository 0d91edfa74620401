"""The customer calls' query string: exactly what ``urlencode`` gives, so the customer's
endpoint reads the same ids and dates whatever characters they hold."""

from __future__ import annotations

from urllib.parse import parse_qs, urlencode

import pytest

from dumgum_loadtest.mock.customer_calls import _query


@pytest.mark.parametrize(
    "value",
    [
        "user_run1_42",
        "persona-7.b~c",
        "",
        "2026-12-07T11:25:33.123Z",
        "a b+c&d=e/f?g#h",
        "ünïcødé 用户",
        "100%",
        "line\nbreak\ttab",
    ],
)
def test_same_as_urlencode(value: str) -> None:
    params = {"userProfileId": value, "personaProfileId": "p1", "lastMessageDate": value}
    query = _query(params)
    assert query == urlencode(params)
    assert parse_qs(query, keep_blank_values=True) == {key: [v] for key, v in params.items()}
