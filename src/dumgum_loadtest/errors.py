"""The harness's exception tree; every message names the bad value and the fix.

HarnessError            anything the harness reports to a user as a clean error
├── ConfigError         a file or option is invalid (names file, field path, value, valid choices)
├── TargetError         a server (mock, receiver, real API) could not be started or reached
└── SafetyError         a run was refused to protect the user (token, billing, spend cap)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

# What ``run`` (and ``report``) exit with; CI tells the cases apart by these alone.
EXIT_SLOS_HOLD = 0
EXIT_SLO_FAILED = 1
EXIT_USAGE = 2  # a usage or setup error: nothing was measured
EXIT_INTERRUPTED = 3  # the run was cut short: the figures are incomplete, whatever they say
# run --calibrate: the harness did not recover the known figures of the embedded mock, so the
# run is invalid (recorded so in the history). A failed check, like a failed SLO: 1. An
# interrupted run still exits 3.
EXIT_CALIBRATION_FAILED = EXIT_SLO_FAILED


class HarnessError(Exception):
    """Base class: the CLI prints the message (no traceback) and exits with ``exit_code``."""

    exit_code = EXIT_USAGE


class ConfigError(HarnessError):
    """A configuration file or option is invalid."""

    items: list[dict[str, str]] | None = None  # from config_error_from_validation


class TargetError(HarnessError):
    """A server could not be started or reached."""


class RunInterruptedError(HarnessError):
    """A run stopped before its load began (a signal during calibration): nothing measured."""

    exit_code = EXIT_INTERRUPTED


class SafetyError(HarnessError):
    """The harness refused to act because it could cost money or leak a secret."""


class FieldProblemError(ValueError):
    """A validator's error about one entry: its ``path`` below the location pydantic reports
    (the validated field, or the model for a model validator), the ``value`` itself and what
    is wrong or valid. Without it, pydantic shows the whole parent mapping as the value."""

    MISSING: Any = object()  # the value of a field that is not there

    def __init__(self, path: str | Sequence[int | str], value: Any, problem: str) -> None:
        super().__init__(problem)
        self.path: list[int | str] = [path] if isinstance(path, str) else list(path)
        self.value = value
        self.problem = problem


_MISSING = object()
_PYDANTIC_PREFIXES = ("Value error, ", "Assertion failed, ")


def _loc_to_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(top level)"


def _child(node: Any, part: int | str) -> Any:
    if isinstance(node, Mapping):
        if part in node:
            return node[part]
        for key, value in node.items():  # YAML's 1: and JSON's "1" name the same entry
            if str(key) == str(part):
                return value
        return _MISSING
    if isinstance(node, list) and isinstance(part, int) and -len(node) <= part < len(node):
        return node[part]
    return _MISSING


def _clean_loc(loc: Sequence[int | str], data: Any, missing: bool) -> list[int | str]:
    """pydantic's location without the parser's own parts (a discriminated union's tag,
    ``function-after[...]``): a part the document does not have is left out, unless it is
    the last of a missing key."""
    if data is _MISSING:
        return list(loc)
    out: list[int | str] = []
    node = data
    for index, part in enumerate(loc):
        if part == "[key]":  # pydantic's marker of a bad mapping key: the path names it
            continue
        child = _child(node, part)
        keep_missing = missing and index == len(loc) - 1
        if child is _MISSING and not keep_missing and isinstance(node, (Mapping, list)):
            continue  # the parser's, not the file's
        out.append(part)
        node = child
    return out


def _model_of(annotation: Any, node: Any) -> type[BaseModel] | None:
    """The pydantic model ``annotation`` stands for at ``node`` (a union picks by its tag)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = get_origin(annotation)
    if origin is Annotated:
        return _model_of(get_args(annotation)[0], node)
    if origin in (Union, UnionType):
        members = [m for arg in get_args(annotation) if (m := _model_of(arg, node)) is not None]
        if len(members) == 1:
            return members[0]
        for member in members:
            for name, field in member.model_fields.items():
                tags = get_args(field.annotation) if get_origin(field.annotation) is Literal else ()
                if tags and isinstance(node, Mapping) and node.get(name, field.default) in tags:
                    return member
    return None


def valid_keys(model: type[BaseModel] | None, path: Sequence[int | str], data: Any) -> list[str]:
    """The keys the model accepts at ``path`` of ``data`` ([] when it cannot tell)."""
    annotation: Any = model
    node = data
    for part in path:
        cls = _model_of(annotation, node)
        if cls is not None:
            field = cls.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
        else:
            origin, args = get_origin(annotation), get_args(annotation)
            if origin is Annotated:
                origin, args = get_origin(args[0]), get_args(args[0])
            if origin in (list, tuple) and args:
                annotation = args[0]
            elif origin is dict and len(args) == 2:
                annotation = args[1]
            else:
                return []
        node = _child(node, part)
    cls = _model_of(annotation, node)
    return list(cls.model_fields) if cls is not None else []


def _shown(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 80 else shown[:77] + "..."


def describe_validation_errors(
    errors: Iterable[Mapping[str, Any]],
    data: Any = _MISSING,
    model: type[BaseModel] | None = None,
) -> list[dict[str, str]]:
    """pydantic's error list as ``{"field", "value", "problem"}`` records: the field path as
    the file writes it, the offending value itself ("" when missing), what is valid."""
    out: list[dict[str, str]] = []
    for err in errors:
        loc = _clean_loc(err.get("loc", ()), data, err.get("type") == "missing")
        value = err.get("input")
        problem = str(err.get("msg", "invalid"))
        for prefix in _PYDANTIC_PREFIXES:
            problem = problem.removeprefix(prefix)
        kind = err.get("type")
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, FieldProblemError):
            loc = [*loc, *cause.path]
            value, problem = cause.value, cause.problem
        shown = "" if value is FieldProblemError.MISSING else _shown(value)
        if kind == "missing":
            shown, problem = "", "missing; this field is required"
        elif kind == "extra_forbidden":
            keys = valid_keys(model, loc[:-1], data) if model is not None else []
            problem = "unknown key" + (f"; valid keys: {', '.join(keys)}" if keys else "")
        out.append({"field": _loc_to_path(loc), "value": shown, "problem": problem})
    return out


def format_problem(source: str | Path, item: Mapping[str, str]) -> str:
    """One line: the file, the field path, the value itself, what is wrong or valid."""
    if not item["value"]:
        return f"{source}: {item['field']}: {item['problem']}"
    return f"{source}: {item['field']} = {item['value']}: {item['problem']}"


def config_error_from_validation(
    source: str | Path,
    errors: Iterable[Mapping[str, Any]],
    *,
    data: Any = _MISSING,
    model: type[BaseModel] | None = None,
) -> ConfigError:
    """A ConfigError with one line per offending field of ``source`` (``data``, the document
    validated, and ``model``, its pydantic model, sharpen paths and list the valid keys)."""
    items = describe_validation_errors(errors, data, model)
    error = ConfigError("\n".join(format_problem(source, item) for item in items))
    error.items = items
    return error
