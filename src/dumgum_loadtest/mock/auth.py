"""Bearer access keys (``sk-proj-…``) and the project each one belongs to."""

from __future__ import annotations

import hashlib
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
