"""The scenario file: one YAML per question a performance engineer asks.

A scenario says what traffic to send (arrival, population, conversation behaviour, the mix
of request fields), where (target), for how long, what must hold (SLOs), which price sheet
to apply and how the embedded mock behaves. ``load_scenario`` validates a file and raises a
ConfigError naming the file, the field path, the bad value and what is valid.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    TypeAdapter,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from dumgum_loadtest.errors import ConfigError, FieldProblemError, config_error_from_validation
from dumgum_loadtest.mock.distributions import Distribution, Lognormal, Uniform
from dumgum_loadtest.scenarios.fields import FIELD_SPECS, coerce_value, json_key
from dumgum_loadtest.schema.enums import ChatModel, Engage

# A categorical distribution: value -> weight. Values are what the request field takes
# (a string, number, boolean, or null for "send null"; the key ``omit`` leaves the field out
# of the body). Weights are normalised; `run` and `scenarios` say so when they do not sum to 1.
Categorical = dict[Any, float]

MOCK_PROCESSES_KEY = "processes"
"""The key of the ``mock`` section that says how many processes serve the mock's model."""
MAX_MOCK_PROCESSES = 64
_MOCK_PROCESSES: TypeAdapter[int] = TypeAdapter(
    Annotated[StrictInt, Field(ge=1, le=MAX_MOCK_PROCESSES)]
)

# Where the mix may say something: every request field, by its dotted path in the body.
MIX_FIELDS: tuple[str, ...] = (
    "language",
    "additionalLanguage",  # the one additional language, or null (becomes additionalLanguages)
    "testMode",
    "replyParameters.chatModel",
    "replyParameters.bufferSeconds",
    "replyParameters.maxProcessingTimeSeconds",
    "replyParameters.enableSexualTextContent",
    "replyParameters.fixedResponseLength",
    "replyParameters.sentenceLength",
    "replyParameters.messageLength",
    "replyParameters.personaPersonality",
    "replyParameters.generatePersonality",
    "replyParameters.shareablePictures",  # how many of the persona's pictures to offer (0..n)
    "replyParameters.shareablePictureCaptioned",  # share of offered pictures with a caption
    "replyParameters.profileDistance",
    "replyParameters.emojis",
    "replyParameters.fluencyDegradation",
    "replyParameters.multipleMessagesPerReply",
    "replyParameters.multipleMessagesPerReplyFrequency",
    "replyParameters.questionFrequency",
    "replyParameters.replyTypingDelay",
    "replyParameters.icebreakerType",
    "replyParameters.disableSafetyFeatures",
    "replyParameters.guardrails.maliciousContent",
    "replyParameters.guardrails.aiSuspicion",
    "replyParameters.guardrails.underageDetection",
    "replyParameters.guardrails.unknownLanguage",
    "replyParameters.guardrails.messageRepetition",
    "replyParameters.guardrails.prohibitedIllegalContent",
    "replyParameters.guardrails.dangerousDrugUse",
    "replyParameters.preventAggressiveTone",
    "replyParameters.personaProfileOverrides.sexualDrive",
    "replyParameters.vision.userProfilePictureAnalysis",
    "replyParameters.vision.personaProfilePictureAnalysis",
    "replyParameters.vision.sharedPicturesAnalysis",
    "replyParameters.vision.shareablePicturesAnalysis",
    "replyParameters.action.pauseConversation.duration",  # null: no action; a number: pause
    "replyParameters.postProcessing.greekRewrite",
    "replyParameters.meetingPolicy",
    "replyParameters.fictionalDisclosure",
)


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(_Section):
    """One plateau of an open-model load: a step, or a short spike."""

    duration_s: float = Field(gt=0)
    rate_rps: float = Field(ge=0, description="Offered enqueue requests per second.")
    name: str | None = None


class OpenArrival(_Section):
    """Requests leave at their intended times, whatever the responses do."""

    model: Literal["open"] = "open"
    process: Literal["constant", "poisson"] = "poisson"
    rate_rps: float | None = Field(default=None, gt=0, description="Used when no stages.")
    stages: list[Stage] | None = None
    max_in_flight: int = Field(
        default=1000, ge=1, description="Requests awaiting their HTTP response, per worker."
    )
    max_lateness_s: float = Field(
        default=1.0, gt=0, description="A request later than this is recorded not sent."
    )

    @model_validator(mode="after")
    def _rate_or_stages(self) -> OpenArrival:
        if self.rate_rps is None and not self.stages:
            raise FieldProblemError(
                "rate_rps",
                FieldProblemError.MISSING,
                "missing; give rate_rps (requests/s, more than 0) or stages",
            )
        if self.stages and not any(stage.rate_rps > 0 for stage in self.stages):
            raise FieldProblemError(
                "stages",
                [stage.rate_rps for stage in self.stages],
                "every stage offers 0 requests/s; at least one must offer more than 0",
            )
        return self

    def stage_plan(self, duration_s: float) -> list[Stage]:
        """The stages to run, or one stage of ``rate_rps`` for the whole duration."""
        if self.stages:
            return list(self.stages)
        return [Stage(duration_s=duration_s, rate_rps=self.rate_rps or 0.0, name="steady")]


class ClosedArrival(_Section):
    """Conversation users: each sends a turn, waits for the answer, thinks, and answers again."""

    model: Literal["closed"] = "closed"
    users: int = Field(ge=1, description="Concurrent conversation users (all workers).")
    spawn_rate_per_s: float = Field(default=10.0, gt=0)
    answer_timeout_s: float | None = Field(
        default=None,
        gt=0,
        description=(
            "Give up waiting after this many seconds from the last send (default: the buffer"
            " window plus maxProcessingTimeSeconds, times the time scale, plus 1 s for delivery)."
        ),
    )


Arrival = Annotated[OpenArrival | ClosedArrival, Field(discriminator="model")]


class Population(_Section):
    """Who talks: drives profile calls, SoulEngine (new personas) and vision (picture URLs)."""

    users: int = Field(default=10_000, ge=1)
    personas: int = Field(default=200, ge=1)
    pictures_per_persona: int = Field(default=3, ge=0, le=128)
    user_picture_share: float = Field(
        default=0.8, ge=0, le=1, description="Users with a main picture (vision cost)."
    )
    new_personas_per_day: float = Field(
        default=0.0, ge=0, description="Personas added per day (each pays SoulEngine once)."
    )
    picture_url_changes_per_day: float = Field(
        default=0.0, ge=0, description="Share of picture URLs rotated per day (re-analysis)."
    )
    profile_version_changes_per_day: float = Field(
        default=0.0, ge=0, description="Share of profiles whose version changes per day."
    )
    active_conversations: int | None = Field(
        default=None,
        ge=1,
        description="Pairs in play at once (open model); default min(users, 5 x personas).",
    )


class Conversation(_Section):
    """How one conversation unfolds (dumgum-api.md §5.3, §5.5)."""

    burst_size: dict[int, float] = Field(
        default_factory=lambda: {1: 0.6, 2: 0.3, 3: 0.1},
        description="Messages a user sends in one turn, inside the buffer window.",
    )
    burst_gap_s: Distribution = Field(
        default_factory=lambda: Uniform(low_s=0.5, high_s=3.0),
        description="Gap between messages of a burst (real seconds before time scale).",
    )
    wait_for_answer: bool = Field(
        default=True, description="Closed model: wait for the answer before the next turn."
    )
    think_time_s: Distribution = Field(
        default_factory=lambda: Lognormal(median_s=20.0, p99_s=180.0),
        description="Time between an answer and the user's next turn (before time scale).",
    )
    turns: dict[int, float] = Field(
        default_factory=lambda: {1: 0.3, 3: 0.3, 6: 0.25, 12: 0.15},
        description="Turns per conversation before the user moves on.",
    )
    engage_share: float = Field(
        default=0.05, ge=0, le=1, description="Turns that are engage (proactive) requests."
    )
    engage_types: dict[Engage, float] = Field(
        default_factory=lambda: {
            Engage.AUTO: 0.4,
            Engage.ICEBREAKER: 0.3,
            Engage.NUDGE: 0.2,
            Engage.REVIVE: 0.1,
        }
    )
    register_user_messages: bool = Field(
        default=False,
        description="POST each user message to the receiver first (realistic chat history).",
    )

    @field_validator("burst_size", "turns")
    @classmethod
    def _positive_counts(cls, value: dict[int, float]) -> dict[int, float]:
        _check_weights(value)
        for count in value:
            if count < 1:
                raise FieldProblemError(str(count), count, "a count must be 1 or more")
        return value

    @field_validator("engage_types")
    @classmethod
    def _weights(cls, value: dict[Engage, float]) -> dict[Engage, float]:
        _check_weights(value)
        return value


WEIGHT_SUM_TOLERANCE = 0.01
"""How far a distribution's weights may sum from 1 before ``weight_notes`` says they are
normalised (rounded shares of a fitted mix stay silent)."""


def _check_weights(weights: dict[Any, float], where: Sequence[str] = ()) -> None:
    """Weights >= 0, not all 0 (they are normalised; ``weight_notes`` says so when they do
    not sum to 1); ``where`` is the path of the distribution below the validated field."""
    if not weights:
        raise FieldProblemError(where, weights, "empty; a distribution needs at least one value")
    for value, weight in weights.items():
        if not isinstance(weight, (int, float)) or isinstance(weight, bool) or weight < 0:
            raise FieldProblemError([*where, str(value)], weight, "a weight must be a number >= 0")
    if sum(weights.values()) <= 0:
        raise FieldProblemError(where, weights, "the weights are all 0; at least one must be more")


class Mix(_Section):
    """A categorical distribution per request field; fields left out are not sent."""

    fields: dict[str, Categorical] = Field(default_factory=dict)
    by_model: dict[ChatModel, dict[str, Categorical]] = Field(
        default_factory=dict, description="Overrides per chat model, after the model is drawn."
    )
    invalid_share: float = Field(
        default=0.0, ge=0, le=1, description="Requests made invalid on purpose (expect 422)."
    )

    @field_validator("fields")
    @classmethod
    def _known_fields(cls, value: dict[str, Categorical]) -> dict[str, Categorical]:
        return _validate_mix(value, "mix.fields")

    @field_validator("by_model")
    @classmethod
    def _known_model_fields(
        cls, value: dict[ChatModel, dict[str, Categorical]]
    ) -> dict[ChatModel, dict[str, Categorical]]:
        for model, fields in value.items():
            where = f"mix.by_model.{model.value}"
            _validate_mix(fields, where)
            if "replyParameters.chatModel" in fields:
                raise FieldProblemError(
                    [model.value, "replyParameters.chatModel"],
                    fields["replyParameters.chatModel"],
                    "by_model cannot redraw the chat model it is keyed by",
                )
        return value

    # JSON keys are strings: without this, null and true keys would come back as the strings
    # "None" and "True", and 5 and "5" would overwrite each other's weight.
    @field_serializer("fields", when_used="json")
    def _fields_as_json(self, fields: dict[str, Categorical]) -> dict[str, dict[str, float]]:
        return {name: _json_categorical(weights) for name, weights in fields.items()}

    @field_serializer("by_model", when_used="json")
    def _by_model_as_json(
        self, by_model: dict[ChatModel, dict[str, Categorical]]
    ) -> dict[str, dict[str, dict[str, float]]]:
        return {model.value: self._fields_as_json(fields) for model, fields in by_model.items()}


def _json_categorical(weights: Categorical) -> dict[str, float]:
    """The categorical with JSON keys that load back as the same values (weights summed)."""
    out: dict[str, float] = {}
    for value, weight in weights.items():
        key = json_key(value)
        out[key] = out.get(key, 0.0) + weight
    return out


def _validate_mix(fields: dict[str, Categorical], where: str) -> dict[str, Categorical]:
    """``where`` is only for the messages of direct callers; paths are relative to the field
    (``mix.fields``) or to the model's entry of ``mix.by_model``."""
    prefix = [] if where == "mix.fields" else [where.rsplit(".", 1)[-1]]
    for name, weights in fields.items():
        if name not in MIX_FIELDS:
            raise FieldProblemError(
                [*prefix, name],
                weights,
                f"unknown mix field {name!r}; valid fields: {', '.join(MIX_FIELDS)}",
            )
        if not isinstance(weights, dict):
            raise FieldProblemError(
                [*prefix, name],
                weights,
                f"give a mapping of value -> weight (valid values: {FIELD_SPECS[name].describe()})",
            )
        _check_weights(weights, [*prefix, name])
        for item in weights:
            try:
                coerce_value(name, item)
            except ValueError:
                raise FieldProblemError(
                    [*prefix, name],
                    item,
                    f"not a valid value; valid: {FIELD_SPECS[name].describe()}",
                ) from None
    return fields


class Slos(_Section):
    """Objectives the run is judged by (exit code 1 when one fails).

    Answer times (``first_answer_*_s``) are real seconds, as the run measures them (from the
    intended send; an unanswered request counts as its deadline): against a mock running at
    time scale 0.1, a 60 s objective in DumGum's own seconds is written 6.
    """

    first_answer_p99_s: float | None = Field(default=None, gt=0)
    first_answer_p50_s: float | None = Field(default=None, gt=0)
    drop_rate_max: float | None = Field(default=None, ge=0, le=1)
    loss_rate_max: float | None = Field(default=None, ge=0, le=1)
    enqueue_p99_ms: float | None = Field(default=None, gt=0)
    rejected_rate_max: float | None = Field(default=None, ge=0, le=1)


class Calibrate(_Section):
    """Settings of the calibration run before the load (``run --calibrate``): a short run
    against the embedded mock with known parameters, whose figures the harness must recover.

    The calibration's own mock answers every request after exactly ``generation_s``
    (constant, simulated seconds, times ``time_scale``) with no buffer window, no typing
    pause and no split reply, so the time to the first answer is known; and it fails a known
    share (``drop_rate``) of replies with ``conversation.dropped`` (the mock's
    ``faults.generation_failure_rate``).
    """

    generation_s: float = Field(
        default=2.0, gt=0, description="Constant generation time, simulated seconds."
    )
    time_scale: float = Field(
        default=0.5,
        gt=0,
        le=10,
        description="The calibration mock's time scale: real seconds = simulated x time scale.",
    )
    drop_rate: float = Field(
        default=0.10, ge=0, lt=1, description="Share of replies the mock drops on purpose."
    )
    duration_s: float = Field(default=2.0, gt=0, le=60, description="Seconds of load.")
    rate_rps: float = Field(default=50.0, gt=0, le=1000, description="Offered requests/s.")
    latency_tolerance: float = Field(
        default=0.02,
        gt=0,
        lt=1,
        description="How far the measured median time to first answer may be from the known"
        " one, as a share of it.",
    )
    mock_overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Merged over the calibration's mock model (same keys as --config). Only to"
        " check that calibration catches a mock that does not do what it expects: any change"
        " to the timing or the drops makes it fail.",
    )

    @property
    def first_answer_s(self) -> float:
        """The known time to first answer, real seconds."""
        return self.generation_s * self.time_scale


class TimelineStep(_Section):
    """A change to the embedded mock's model at a time into the run (chaos)."""

    at_s: float = Field(ge=0)
    patch: dict[str, Any] = Field(description="A JSON merge patch for PATCH /_mock/config.")
    note: str | None = None


class Scenario(_Section):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    description: str = ""
    target: str = Field(default="mock", description="'mock', or the real API's base URL.")
    duration_s: float = Field(default=60.0, gt=0)
    warmup_s: float = Field(default=0.0, ge=0)
    seed: int = 1
    arrival: Arrival
    population: Population = Field(default_factory=Population)
    conversation: Conversation = Field(default_factory=Conversation)
    mix: Mix = Field(default_factory=Mix)
    slos: Slos = Field(default_factory=Slos)
    pricing: str | None = Field(default=None, description="Price sheet file (scenarios/pricing).")
    mock: dict[str, Any] = Field(
        default_factory=dict,
        description="The embedded mock's model (same keys as --config), and 'processes': how"
        " many mock processes serve it (default 1; each (user, persona) pair goes to one).",
    )
    timeline: list[TimelineStep] = Field(default_factory=list)
    calibrate: Calibrate | None = Field(
        default=None,
        description="Calibrate the harness against the embedded mock before the load"
        " (also --calibrate; --no-calibrate skips it).",
    )

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if value != "mock" and not value.startswith(("http://", "https://")):
            raise ValueError("give 'mock' or an http(s) URL of the API")
        return value

    @model_validator(mode="before")
    @classmethod
    def _mix_given(cls, data: Any) -> Any:
        if isinstance(data, dict) and "mix" in data:
            mix = data["mix"]
            if mix is None or (
                isinstance(mix, dict) and not mix.get("fields") and set(mix) <= {"fields"}
            ):
                raise FieldProblemError(
                    "mix",
                    mix,
                    "empty; give mix.fields (value -> weight per request field), or leave the"
                    " mix section out to send only the required fields",
                )
        return data

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        run_s = self.run_duration_s
        if self.warmup_s >= run_s:
            raise FieldProblemError(
                "warmup_s", self.warmup_s, f"must be shorter than the run ({run_s:g} s)"
            )
        for index, step in enumerate(self.timeline):
            if step.at_s >= run_s:
                raise FieldProblemError(
                    ["timeline", index, "at_s"],
                    step.at_s,
                    f"after the end of the run ({run_s:g} s): it would never apply;"
                    f" give 0 <= at_s < {run_s:g}",
                )
        _check_mock_processes(self.mock.get(MOCK_PROCESSES_KEY, 1), self.target)
        if self.mock_model or self.timeline:
            _check_mock_model(self.mock_model, self.timeline)
        if self.calibrate is not None and self.calibrate.mock_overrides:
            _check_mock_model(self.calibrate.mock_overrides, [], "calibrate.mock_overrides")
        return self

    @property
    def mock_processes(self) -> int:
        """How many processes serve the embedded mock (``mock.processes``, default 1)."""
        return int(self.mock.get(MOCK_PROCESSES_KEY, 1))

    @property
    def mock_model(self) -> dict[str, Any]:
        """The ``mock`` section as the mock's own model (``--config``): without ``processes``,
        which is how the run serves that model, not part of it."""
        return {k: v for k, v in self.mock.items() if k != MOCK_PROCESSES_KEY}

    @property
    def mock_time_scale(self) -> float:
        """The embedded mock's time scale: simulated seconds = real seconds / time scale."""
        return float(self.mock.get("time_scale", 1.0))

    @property
    def run_duration_s(self) -> float:
        """Stages define the duration when present; else ``duration_s``."""
        if isinstance(self.arrival, OpenArrival) and self.arrival.stages:
            return sum(stage.duration_s for stage in self.arrival.stages)
        return self.duration_s


class _Shown(str):
    """A value already shown (``repr``) by the embedded mock's message: shown as it is."""

    def __repr__(self) -> str:
        return str(self)


def _check_mock_processes(processes: Any, target: str) -> None:
    """``mock.processes``: a whole number from 1 to ``MAX_MOCK_PROCESSES``, and only 1 against
    a real URL (routing by pair applies to the embedded mock only)."""
    try:
        count = _MOCK_PROCESSES.validate_python(processes)
    except ValidationError:
        raise FieldProblemError(
            ["mock", MOCK_PROCESSES_KEY],
            processes,
            f"give a whole number of mock processes from 1 to {MAX_MOCK_PROCESSES}",
        ) from None
    if count != 1 and target != "mock":
        raise FieldProblemError(
            ["mock", MOCK_PROCESSES_KEY],
            processes,
            f"the target is a URL ({target}): requests are routed to mock processes only when"
            " the run serves the mock; remove mock.processes or set it to 1",
        )


def _check_mock_model(
    mock: dict[str, Any], timeline: list[TimelineStep], where_mock: str = "mock"
) -> None:
    """The ``mock`` section (at ``where_mock``), then each timeline patch over it, must make a
    valid mock model."""
    from dumgum_loadtest.mock.config import MockConfig

    config = MockConfig()
    patches = [
        (where_mock, mock),
        *((f"timeline[{i}].patch", s.patch) for i, s in enumerate(timeline)),
    ]
    for where, patch in patches:
        try:
            config = config.patched(patch, source=where)
        except ConfigError as exc:
            if exc.items is None:
                raise
            item = exc.items[0]  # one line; the first of the embedded mock's problems
            raise FieldProblemError(
                [*where.split("."), item["field"]], _Shown(item["value"]), item["problem"]
            ) from None


def weight_notes(scenario: Scenario) -> list[str]:
    """A line per distribution whose weights do not sum to 1: the run normalises them, and
    says so (0.5 + 0.2 meant as shares of 1 is a typing mistake the user must see)."""
    distributions: dict[str, dict[Any, float]] = {
        "conversation.burst_size": dict(scenario.conversation.burst_size),
        "conversation.turns": dict(scenario.conversation.turns),
        "conversation.engage_types": {
            k.value: w for k, w in scenario.conversation.engage_types.items()
        },
    }
    for name, weights in scenario.mix.fields.items():
        distributions[f"mix.fields.{name}"] = weights
    for model, fields in scenario.mix.by_model.items():
        for name, weights in fields.items():
            distributions[f"mix.by_model.{model.value}.{name}"] = weights
    notes = []
    for path, weights in distributions.items():
        total = float(sum(weights.values()))
        if abs(total - 1.0) > WEIGHT_SUM_TOLERANCE:
            how = f"each weight divided by {total:g}"
            if len(weights) <= 6:
                shares = ", ".join(f"{value!r}: {w / total:.3g}" for value, w in weights.items())
                how = f"{{{shares}}}"
            notes.append(f"{path}: the weights sum to {total:g}, not 1; normalised to {how}")
    return notes


def parse_scenario(data: Any, source: str) -> Scenario:
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: a scenario must be a mapping, got {data!r}")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise config_error_from_validation(source, exc.errors(), data=data, model=Scenario) from exc


def load_scenario(path: Path) -> Scenario:
    """Read and validate a scenario file; every error names the file and the field path."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the scenario: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_scenario(data, str(path))
