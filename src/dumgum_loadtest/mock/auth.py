"""Bearer access keys (``sk-proj-…``) and the project each one belongs to."""

from __future__ import annotations

import hashlib
import hmac
import string

DEFAULT_TOKEN = "sk-proj-mock-local"
_ALPHABET = string.ascii_letters + string.digits


def project_id_for(token: str) -> str:
    """A stable ``proj_`` id of 21 characters per access key, like DumGum's."""
    number = int.from_bytes(hashlib.blake2b(token.encode(), digest_size=16).digest(), "big")
    chars = []
    for _ in range(21):
        number, index = divmod(number, len(_ALPHABET))
        chars.append(_ALPHABET[index])
    return "proj_" + "".join(chars)


class TokenRegistry:
    """Known tokens; anything else, or no bearer at all, is a 401."""

    def __init__(self, tokens: list[str]) -> None:
        self._projects = {token: project_id_for(token) for token in tokens}

    def project_for(self, authorization: str | None) -> str | None:
        if not authorization:
            return None
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._projects.get(token.strip())


def bearer_token(authorization: str | None) -> str | None:
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


class ControlAccess:
    """Who may read the ledger and change the config (``/_mock/*``).

    Both are mock-wide: one capacity model and fault set for all projects, counters and costs
    summed over them. So they belong to whoever runs the mock, not to a project: the control
    token. By default that is the project token when the mock accepts exactly one (every run
    starts it so); a mock with several projects needs an explicit control token, and until it
    has one no project token can read another project's traffic or change its faults.
    """

    def __init__(self, project_tokens: list[str], control_token: str | None = None) -> None:
        if control_token is None and len(set(project_tokens)) == 1:
            control_token = project_tokens[0]
        self._token = control_token

    @property
    def configured(self) -> bool:
        return self._token is not None

    def allows(self, authorization: str | None) -> bool:
        token = bearer_token(authorization)
        if token is None or self._token is None:
            return False
        return hmac.compare_digest(token.encode(), self._token.encode())
