"""Fit a scenario's mix to a sample of production enqueue bodies, and list scenario files.

``fit_scenario`` reads one JSON body per line and writes the YAML of a scenario whose mix
draws bodies like the sample's: each field's observed values with their shares. The rules
that keep it faithful to how ``RequestFactory`` draws:

- a field absent from a body counts as the value ``omit`` (left out), null as null; a field
  absent from every body is left out of the mix;
- ``additionalLanguages`` becomes ``additionalLanguage`` (its first item; empty or null count
  as ``omit``, which the draw treats like null: no additional language);
  ``shareablePictures`` becomes a count, and ``shareablePictureCaptioned`` the captioned share
  of the offered pictures (rounded to 0.1), over bodies that offer pictures;
- fields only drawn when they apply are fitted over the bodies where they apply: vision and
  Smart Share over chat-2 bodies, ``icebreakerType`` over engage AUTO / ICEBREAKER bodies;
  ``engage`` itself becomes ``conversation.engage_share`` and ``engage_types``;
- a pause action becomes its duration (an action without a duration is fitted as none);
- a field whose shares for one chat model differ from the whole sample's (with at least 100
  bodies of that model: by more than 0.05 in total variation, and significantly, chi-square at
  0.001) goes into ``by_model`` for every model with enough bodies;
- a numeric string counts as its number (the API takes both: ``bufferSeconds`` "5" and 5
  are one value);
- bodies the request schema rejects are counted into ``mix.invalid_share`` and not fitted;
- fields the generator does not draw (``banDurations``, guardrail options it has no mix field
  for, the customer's own ``tags``...) are not fitted: the scenario's header lists each, with
  the number of bodies that set it, and ``scenario fit`` prints the same list.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import yaml
from pydantic import ValidationError

from dumgum_loadtest.errors import ConfigError
from dumgum_loadtest.scenarios.fields import FIELD_SPECS, OMIT
from dumgum_loadtest.scenarios.model import MIX_FIELDS, Scenario, load_scenario, parse_scenario
from dumgum_loadtest.scenarios.stats import fits
from dumgum_loadtest.schema.enums import ChatModel
from dumgum_loadtest.schema.request import DEFAULT_CHAT_MODEL, EnqueueRequest

MIN_MODEL_BODIES = 100
BY_MODEL_DISTANCE = 0.05
_CHAT_MODEL = "replyParameters.chatModel"
_ICEBREAKER = "replyParameters.icebreakerType"
_PICTURE_FIELDS = ("replyParameters.shareablePictures", "replyParameters.shareablePictureCaptioned")
_NOT_OBSERVED: Any = object()  # the field does not apply to this body (not even as "omit")
_NUMERIC_KINDS = ("int", "number", "pause", "count")
# Body paths the fit reads without a mix field of that name: ids, versions and the messages
# the generator makes itself, and the fields fitted under another name.
_READ_ELSEWHERE = (
    "userProfileId",
    "personaProfileId",
    "userProfileVersion",
    "personaProfileVersion",
    "additionalLanguages",
    "replyParameters.engage",
    "replyParameters.shareablePictures",
    "replyParameters.action.pauseConversation",
)


def _observe(body: dict[str, Any]) -> dict[str, Any]:
    """Each mix field's value in ``body``, as the mix spells it."""
    params = body.get("replyParameters")
    params = params if isinstance(params, dict) else {}
    model = params.get("chatModel") or DEFAULT_CHAT_MODEL.value
    chat_2 = ChatModel(model).supports_vision
    engage = params.get("engage")
    seen: dict[str, Any] = {}
    for name in MIX_FIELDS:
        if name.startswith("replyParameters."):
            seen[name] = _nested(params, name.removeprefix("replyParameters.").split("."))
        else:
            seen[name] = body.get(name, OMIT)
    extra = body.get("additionalLanguages", OMIT)
    seen["additionalLanguage"] = extra[0] if isinstance(extra, list) and extra else OMIT
    pictures = params.get("shareablePictures", OMIT)
    seen["replyParameters.shareablePictures"] = (
        len(pictures) if isinstance(pictures, list) else pictures
    )
    seen["replyParameters.shareablePictureCaptioned"] = _NOT_OBSERVED
    if isinstance(pictures, list) and pictures:
        captioned = sum(1 for p in pictures if isinstance(p, dict) and p.get("caption"))
        seen["replyParameters.shareablePictureCaptioned"] = round(captioned / len(pictures), 1)
    action = params.get("action")
    pause = action.get("pauseConversation") if isinstance(action, dict) else None
    duration = pause.get("duration") if isinstance(pause, dict) else None
    seen["replyParameters.action.pauseConversation.duration"] = (
        OMIT if duration is None else duration
    )
    if not chat_2:
        for name in (*_PICTURE_FIELDS, *(n for n in MIX_FIELDS if ".vision." in n)):
            seen[name] = _NOT_OBSERVED
    if engage not in ("AUTO", "ICEBREAKER"):
        seen[_ICEBREAKER] = _NOT_OBSERVED
    for name, value in seen.items():
        spec = FIELD_SPECS.get(name)
        if spec is not None and spec.kind in _NUMERIC_KINDS and isinstance(value, str):
            seen[name] = _number(value)
    return seen


def _number(text: str) -> Any:
    """A numeric string as its number (an int when whole); other text unchanged."""
    try:
        number = float(text)
    except ValueError:
        return text
    return int(number) if number.is_integer() else number


def _paths(node: Any, prefix: str = "") -> set[str]:
    """Every leaf path of a body (lists are leaves)."""
    if not isinstance(node, dict) or not node:
        return {prefix} if prefix else set()
    found: set[str] = set()
    for key, value in node.items():
        found |= _paths(value, f"{prefix}.{key}" if prefix else str(key))
    return found


def not_fitted(bodies: list[dict[str, Any]]) -> Counter[str]:
    """The body paths no mix field draws, each with the number of bodies that set it."""
    fitted = (*MIX_FIELDS, *_READ_ELSEWHERE)
    counts: Counter[str] = Counter()
    for body in bodies:
        for path in _paths(body):
            if not any(path == name or path.startswith(name + ".") for name in fitted):
                counts[path] += 1
    return counts


def _nested(params: dict[str, Any], parts: list[str]) -> Any:
    node: Any = params
    for part in parts:
        if not isinstance(node, dict) or part not in node:
            return OMIT
        node = node[part]
    return node


def _key(value: Any) -> tuple[str, Any]:
    # True == 1 and hash alike: keep the type apart so a bool never merges with a count.
    return type(value).__name__, value


def _shares(counter: Counter[tuple[str, Any]]) -> dict[Any, float]:
    total = sum(counter.values())
    ordered = sorted(counter.items(), key=lambda item: (-item[1], str(item[0])))
    return {key[1]: max(round(count / total, 4), 0.0001) for key, count in ordered}


def _differs(part: Counter[tuple[str, Any]], whole: Counter[tuple[str, Any]]) -> bool:
    """Whether ``part`` (one model's counts) is drawn from other shares than ``whole``."""
    total_part, total_whole = sum(part.values()), sum(whole.values())
    keys = sorted(whole, key=str)
    distance = 0.5 * sum(abs(part[k] / total_part - whole[k] / total_whole) for k in keys)
    return distance > BY_MODEL_DISTANCE and not fits(
        [part[k] for k in keys], [whole[k] for k in keys]
    )


def _read_sample(path: Path) -> tuple[list[dict[str, Any]], int]:
    """The bodies of the sample and how many the request schema rejects (dropped)."""
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the sample: {exc.strerror}") from exc
    bodies: list[dict[str, Any]] = []
    invalid = 0
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            body = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ConfigError(
                f"{path}:{number}: not JSON ({exc}); give one enqueue body per line"
            ) from exc
        if not isinstance(body, dict):
            raise ConfigError(
                f"{path}:{number}: an enqueue body must be a JSON object, got {str(body)[:60]}"
            )
        try:
            EnqueueRequest.model_validate(body)
        except ValidationError:
            invalid += 1
            continue
        bodies.append(body)
    if not bodies:
        raise ConfigError(f"{path}: no valid enqueue body in the sample ({invalid} invalid)")
    return bodies, invalid


def fit_scenario(sample_path: Path, name: str) -> str:
    """The YAML text of an editable scenario whose mix matches the sample's bodies."""
    bodies, invalid = _read_sample(sample_path)
    observed = [_observe(body) for body in bodies]
    models = [seen[_CHAT_MODEL] for seen in observed]
    effective = [DEFAULT_CHAT_MODEL.value if m in (None, OMIT) else m for m in models]

    fields: dict[str, dict[Any, float]] = {}
    by_model: dict[str, dict[str, dict[Any, float]]] = {}
    for field in MIX_FIELDS:
        overall: Counter[tuple[str, Any]] = Counter()
        per_model: dict[str, Counter[tuple[str, Any]]] = {}
        for seen, model in zip(observed, effective, strict=True):
            value = seen[field]
            if value is _NOT_OBSERVED:
                continue
            overall[_key(value)] += 1
            per_model.setdefault(model, Counter())[_key(value)] += 1
        if not overall or set(overall) == {_key(OMIT)}:
            continue
        fields[field] = _shares(overall)
        if field == _CHAT_MODEL:
            continue
        enough = {m: c for m, c in per_model.items() if sum(c.values()) >= MIN_MODEL_BODIES}
        if any(_differs(counter, overall) for counter in enough.values()):
            for model, counter in enough.items():
                by_model.setdefault(model, {})[field] = _shares(counter)

    engages = Counter(
        params.get("engage")
        for params in (b.get("replyParameters") for b in bodies)
        if isinstance(params, dict) and params.get("engage")
    )
    data = _scenario_data(name, bodies, invalid, fields, by_model, engages)
    try:
        parse_scenario(data, f"scenario fitted from {sample_path}")
    except ConfigError as exc:
        raise ConfigError(f"{sample_path}: the fitted scenario is not valid: {exc}") from exc
    header = (
        f"# Fitted by `dumgum-loadtest scenario fit` from {sample_path}:\n"
        f"# {len(bodies) + invalid} bodies, {invalid} of them invalid (mix.invalid_share).\n"
        "# Question it answers: does the target hold traffic shaped like this sample?\n"
        "# The mix and population come from the sample; the sample says nothing about timing,\n"
        "# so edit arrival, duration, conversation behaviour, SLOs and the mock model.\n"
    )
    skipped = not_fitted(bodies)
    if skipped:
        header += "# Not fitted (no mix field draws them; generated requests leave them out):\n"
        header += "".join(
            f"#   {path}: in {count} of {len(bodies)} bodies\n"
            for path, count in sorted(skipped.items())
        )
    text = yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)
    return header + text


def _scenario_data(
    name: str,
    bodies: list[dict[str, Any]],
    invalid: int,
    fields: dict[str, dict[Any, float]],
    by_model: dict[str, dict[str, dict[Any, float]]],
    engages: Counter[Any],
) -> dict[str, Any]:
    users = len({b.get("userProfileId") for b in bodies})
    personas = len({b.get("personaProfileId") for b in bodies})
    picture_counts = fields.get("replyParameters.shareablePictures", {})
    counts = [c for c in picture_counts if isinstance(c, int) and not isinstance(c, bool)]
    population: dict[str, Any] = {"users": users, "personas": personas}
    population["pictures_per_persona"] = max(counts) if counts and max(counts) > 0 else 3
    conversation: dict[str, Any] = {
        "engage_share": round(sum(engages.values()) / len(bodies), 4),
    }
    if engages:
        total = sum(engages.values())
        conversation["engage_types"] = {k: round(v / total, 4) for k, v in engages.most_common()}
    return {
        "name": name,
        "description": "Fitted from a sample of production enqueue bodies; edit freely.",
        "target": "mock",
        "duration_s": 60,
        "seed": 1,
        "arrival": {"model": "open", "process": "poisson", "rate_rps": 10},
        "population": population,
        "conversation": conversation,
        "mix": {
            "invalid_share": round(invalid / (len(bodies) + invalid), 4),
            "fields": fields,
            "by_model": by_model,
        },
        "mock": {"time_scale": 0.1},
    }


def list_scenarios(directory: Path) -> list[tuple[Path, Scenario | ConfigError]]:
    """Every ``*.yaml`` scenario in ``directory``, loaded, or the error that stops it loading."""
    found: list[tuple[Path, Scenario | ConfigError]] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            found.append((path, load_scenario(path)))
        except ConfigError as exc:
            found.append((path, exc))
    return found
