"""How every command turns a library error into one clear line and an exit code."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

import click

from dumgum_loadtest.errors import HarnessError

F = TypeVar("F", bound=Callable[..., Any])


def clean_errors(command: F) -> F:
    """A HarnessError becomes ``error: ...`` on stderr and its exit code, never a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except HarnessError as exc:
            click.echo(f"error: {exc}", err=True)
            raise SystemExit(exc.exit_code) from None

    return wrapper  # type: ignore[return-value]
