"""Request bodies shipped with the package: the enqueue reference's own full example."""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def reference_example() -> dict[str, Any]:
    """The full example body of ``seed/enqueue-reference.txt``, verbatim."""
    text = resources.files("dumgum_loadtest").joinpath("data/enqueue-example.json").read_text()
    body: dict[str, Any] = json.loads(text)
    return body
