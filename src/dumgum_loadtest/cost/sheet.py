"""Price sheets: what DumGum charges per billed reply, analysed picture and SoulEngine persona.

A sheet is a YAML file under ``scenarios/pricing/``; values the documentation does not give
are listed under ``placeholders`` so every report that uses them can say so. Money is read
straight from the YAML text into ``Decimal`` (never through a float). ``load_price_sheet``
raises a ConfigError naming the file, the field path, the bad value and what is valid.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from dumgum_loadtest.errors import ConfigError, config_error_from_validation
from dumgum_loadtest.schema.enums import ChatModel

REPO_ROOT = Path(__file__).resolve().parents[3]
PRICING_DIR = REPO_ROOT / "scenarios" / "pricing"
DEFAULT_SHEET_PATH = PRICING_DIR / "default.yaml"
DEFAULT_SHEET_NAME = "built-in default"

REPLY_KEY = "reply_per_model"
VISION_KEY = "vision_per_picture"
SOULENGINE_KEY = "soulengine_per_persona"


def price_keys() -> tuple[str, ...]:
    """Every price a sheet holds, by the path ``placeholders`` uses."""
    return (*(f"{REPLY_KEY}.{m.value}" for m in ChatModel), VISION_KEY, SOULENGINE_KEY)


class PriceSheet(BaseModel):
    """DumGum's prices in euros; ``source`` is the file it came from (not part of the file)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    currency: str = Field(description="EUR: DumGum quotes euros (dumgum-api.md §6.3).")
    valid_from: dt.date
    description: str = ""
    reply_per_model: dict[ChatModel, Decimal] = Field(
        description="Price of one billed reply (its first message), for every chat model."
    )
    vision_per_picture: Decimal = Field(ge=0, description="Per analysed picture (unique URL).")
    soulengine_per_persona: Decimal = Field(ge=0, description="Per persona SoulEngine analyses.")
    placeholders: tuple[str, ...] = Field(
        default=(), description="Price paths whose value the docs do not give."
    )
    sources: dict[str, str] = Field(default_factory=dict)
    source: str = Field(default=DEFAULT_SHEET_NAME, exclude=True)

    @field_validator("currency")
    @classmethod
    def _euros(cls, value: str) -> str:
        if value != "EUR":
            raise ValueError("DumGum bills in euros (dumgum-api.md §6.3): give EUR")
        return value

    @field_validator("reply_per_model")
    @classmethod
    def _every_model(cls, value: dict[ChatModel, Decimal]) -> dict[ChatModel, Decimal]:
        missing = [m.value for m in ChatModel if m not in value]
        if missing:
            raise ValueError(
                f"give a price for every chat model; missing: {', '.join(missing)}"
                f" (chat models: {', '.join(m.value for m in ChatModel)})"
            )
        for model, price in value.items():
            if price < 0:
                raise ValueError(f"the price of {model.value} must be >= 0, got {price}")
        return value

    @field_validator("placeholders")
    @classmethod
    def _known_placeholders(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        valid = price_keys()
        for key in value:
            if key not in valid:
                raise ValueError(f"unknown price {key!r}; valid: {', '.join(valid)}")
        return value

    @model_validator(mode="after")
    def _money_places(self) -> PriceSheet:
        # answer.cost has at most 4 decimals; a finer price is a typo more often than not.
        for key in price_keys():
            price = self.price(key)
            exponent = price.as_tuple().exponent
            if isinstance(exponent, int) and exponent < -6:
                raise ValueError(f"{key} = {price}: give at most 6 decimal places")
        return self

    def reply_price(self, model: str | ChatModel) -> Decimal:
        return self.reply_per_model[ChatModel(model)]

    def price(self, key: str) -> Decimal:
        """The price at ``key`` (a path of ``price_keys()``)."""
        if key.startswith(f"{REPLY_KEY}."):
            return self.reply_price(key.split(".", 1)[1])
        if key == VISION_KEY:
            return self.vision_per_picture
        if key == SOULENGINE_KEY:
            return self.soulengine_per_persona
        raise KeyError(key)

    def is_placeholder(self, key: str) -> bool:
        return key in self.placeholders

    def placeholders_among(self, keys: list[str]) -> list[str]:
        """Those of ``keys`` that are placeholders, in sheet order."""
        wanted = set(keys)
        return [key for key in price_keys() if key in wanted and key in self.placeholders]

    def describe(self) -> dict[str, Any]:
        """JSON-ready: where it came from and its prices as strings. Placeholders are listed
        by the outputs that use them (``placeholders_used``), so a report flags only those."""
        return {
            "source": self.source,
            "currency": self.currency,
            "valid_from": self.valid_from.isoformat(),
            "prices_eur": {key: str(self.price(key)) for key in price_keys()},
        }


class _DecimalLoader(yaml.SafeLoader):
    """YAML floats become Decimal from their text, so 0.015 is exactly 0.015."""


def _decimal_float(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    text = str(loader.construct_scalar(node))  # type: ignore[arg-type]
    try:
        return Decimal(text.replace("_", ""))
    except InvalidOperation:
        return float(loader.construct_yaml_float(node))  # type: ignore[arg-type]


_DecimalLoader.add_constructor("tag:yaml.org,2002:float", _decimal_float)


def parse_price_sheet(data: Any, source: str) -> PriceSheet:
    """A sheet from already-parsed data; errors name ``source`` and each bad field."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: a price sheet must be a mapping with currency, valid_from,"
            f" reply_per_model, vision_per_picture and soulengine_per_persona; got {data!r}"
        )
    try:
        return PriceSheet.model_validate({**data, "source": source})
    except ValidationError as exc:
        raise config_error_from_validation(
            source, exc.errors(), data=data, model=PriceSheet
        ) from exc


def load_price_sheet(path: Path) -> PriceSheet:
    """Read and validate a price sheet file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the price sheet: {exc.strerror}") from exc
    try:
        data = yaml.load(text, Loader=_DecimalLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    return parse_price_sheet(data, _shown(path))


def _shown(path: Path) -> str:
    """The path as a user would type it: relative to the working directory when inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def builtin_price_sheet() -> PriceSheet:
    """The values of ``scenarios/pricing/default.yaml``, for an installation without it."""
    placeholder = Decimal("0.025")
    return PriceSheet(
        currency="EUR",
        valid_from=dt.date(2025, 1, 1),
        description="Documented and placeholder prices of the DumGum content-creation API.",
        reply_per_model=dict.fromkeys(ChatModel, placeholder),
        vision_per_picture=Decimal("0.015"),
        soulengine_per_persona=Decimal("0.10"),
        placeholders=tuple(k for k in price_keys() if k != VISION_KEY),
        source=DEFAULT_SHEET_NAME,
    )


def default_price_sheet() -> PriceSheet:
    """``scenarios/pricing/default.yaml`` when the repository is at hand, else the same values."""
    if DEFAULT_SHEET_PATH.is_file():
        return load_price_sheet(DEFAULT_SHEET_PATH)
    return builtin_price_sheet()


def pricing_candidates(pricing: str, scenario_path: Path | None) -> list[Path]:
    """Where a scenario's ``pricing`` value may point, in the order they are tried."""
    given = Path(pricing)
    if given.is_absolute():
        return [given]
    names = [given] if given.suffix in (".yaml", ".yml") else [given, given.with_suffix(".yaml")]
    bases = [scenario_path.parent] if scenario_path is not None else []
    bases.append(PRICING_DIR)
    return [base / name for base in bases for name in names]


def resolve_price_sheet(
    pricing: str | None, scenario_path: Path | None = None, override: Path | None = None
) -> PriceSheet:
    """The sheet to use: ``override`` (``--pricing``), else the scenario's ``pricing`` (relative
    to the scenario file, then to ``scenarios/pricing/``; ``.yaml`` may be left out), else the
    default sheet."""
    if override is not None:
        return load_price_sheet(override)
    if pricing is None:
        return default_price_sheet()
    candidates = pricing_candidates(pricing, scenario_path)
    for candidate in candidates:
        if candidate.is_file():
            return load_price_sheet(candidate)
    where = f"{scenario_path}: " if scenario_path is not None else ""
    tried = ", ".join(str(c) for c in candidates)
    available = ", ".join(sorted(p.stem for p in PRICING_DIR.glob("*.yaml"))) or "none"
    raise ConfigError(
        f"{where}pricing = {pricing!r}: no such price sheet (tried {tried});"
        f" shipped sheets: {available}"
    )
