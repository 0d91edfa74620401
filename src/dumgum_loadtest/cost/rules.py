"""DumGum's billing rules as the cost model applies them: one text per feature, and money helpers.

The texts are part of every cost output (summary.json, the reports, ``cost`` tables), so a
reader sees how each euro was attributed. Sections refer to ``dumgum-api.md``.
"""

from __future__ import annotations

import numbers
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

DAYS_PER_MONTH = 30  # a billing month for projections
EUR_PLACES = Decimal("0.0001")  # DumGum's answer.cost format: 4 decimals
RATE_PLACES = Decimal("0.000001")  # per-answer figures: finer, they are averages
# The most one message can plausibly cost. DumGum charges cents per reply; anything above
# this is a broken or hostile value, not money. It also keeps every sum exact: 30 M answers
# at this much is 3e10 EUR, 15 digits with the 4 decimals, well within Decimal's 28.
MAX_ANSWER_COST_EUR = Decimal(1000)
# A decimal numeral as DumGum writes it ("0.0250"), or as a JSON number would be written:
# no sign other than "-" (which fails the range check), no spaces, underscores, NaN or
# Infinity that Decimal() itself would accept. Longer text is not a price either.
_COST_TEXT = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_COST_TEXT_MAX_CHARS = 40

REPLIES = "replies"
VISION = "vision"
SOULENGINE = "soulengine"
TEST_MODE = "test_mode"
ENGAGE = "engage"
MERGED = "merged"
SPLIT = "split_followups"
DROPPED = "dropped"

RULES: dict[str, str] = {
    REPLIES: (
        "One billed reply per answered request, priced by that request's chat model"
        " (§6.2): enqueues merged into one reply by bufferSeconds are free (§5.3), and only"
        " the first message of a split reply is billed (§5.2)."
    ),
    TEST_MODE: (
        "testMode replies are free (§6.1). Projections price them as if live and show their"
        " part here; their measured answer.cost is 0.0000."
    ),
    ENGAGE: (
        "Engage (proactive) requests are enqueues and are billed as replies like any other"
        " (§5.5, inferred). Their part of the replies is shown, not added again."
    ),
    MERGED: (
        "Enqueues merged into a burst's single reply are free. Shown: what they would cost"
        " had each one been a billed reply, i.e. the saving from bufferSeconds."
    ),
    SPLIT: (
        "Follow-up messages of a split reply (sequenceNumber > 0) are free (§5.2). They are"
        " counted from the events; their measured answer.cost should be 0.0000."
    ),
    VISION: (
        "Each unique picture URL is analysed and billed once (§6.3), on chat-2 models only,"
        " never in testMode. Which pictures: the user's and the persona's main pictures and"
        " the uncaptioned shareable pictures, as the request's vision flags ask. Shared"
        " chat pictures are not modelled. Each analysis is attributed to the chat model of"
        " the first reply that needed it."
    ),
    SOULENGINE: (
        "SoulEngine is billed once per persona, the first time a live reply asks for"
        " generatePersonality; never twice for the same persona (§6.4). A persona counts as"
        " new when it is first seen in the run (or the projected period). The fee is"
        " attributed to the chat model of that first reply."
    ),
    DROPPED: (
        "Dropped conversations (conversation.dropped) produce no answer and are not billed."
        " Shown: what their replies would have cost at their chat model's price, and that"
        " amount's share of the projection."
    ),
}

# The same rules in one line each: the report's footnotes (the full texts sit below them).
SHORT_RULES: dict[str, str] = {
    REPLIES: "One billed reply per answered request, at its chat model's price.",
    TEST_MODE: "testMode replies are free; projected as if live, measured at 0.0000.",
    ENGAGE: "Engage (proactive) requests are billed like any reply; already in replies.",
    MERGED: "Enqueues merged into one reply by bufferSeconds are free: this is the saving.",
    SPLIT: "Follow-up messages of a split reply are free; only the first is billed.",
    VISION: "Each unique picture URL is analysed and billed once, chat-2 only, never in testMode.",
    SOULENGINE: "Billed once per persona, on its first live generatePersonality reply.",
    DROPPED: "Dropped conversations are not billed; shown: what they would have cost.",
}

RUN_VISION_RULE = (
    "The request records carry only 'some vision analysis was asked' and the number of"
    " shareable pictures offered, not which of the four analyses nor the captions. Rule: an"
    " answered chat-2 request with vision on may analyse its user's main picture, its"
    " persona's main picture and the persona's first `shareable_pictures` pictures; each"
    " picture is counted once per run. Without the run's scenario every such picture counts"
    " (all analyses on, no captions: an upper bound). With the scenario, each picture counts"
    " with the probability that at least one reply that touched it asked for its analysis,"
    " given the model's mix (an expected value), and shareable pictures follow the scenario's"
    " URL rotation. Main-picture URLs do not change during a run (the receiver serves one"
    " URL per profile). When the mock's ledger is in the run directory, its count is shown"
    " next to this one."
)

PROJECTION_UNCERTAINTY = (
    "95 % range from a normal approximation of the month's randomness under the mix: the"
    " variance of the reply cost from the turn structure (bursts, splits) and the chat-model"
    " shares (a ratio estimator over turns), plus the binomial variance of each one-off item"
    " (picture version, persona). It does not cover placeholder prices or the assumptions"
    " listed."
)


def answer_cost_eur(value: Any) -> Decimal | None:
    """``answer.cost`` as EUR when it is a valid cost, else None (then it is no money at all).

    Valid: a finite decimal from 0 to ``MAX_ANSWER_COST_EUR``, given as text (as DumGum
    sends it) or as a JSON number. Infinity, NaN, negative amounts, absurd magnitudes and
    anything that is not a number are invalid: they are counted, never summed.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Real | Decimal):  # numpy numbers too
        value = str(value)
    if not isinstance(value, str) or len(value) > _COST_TEXT_MAX_CHARS:
        return None
    if not _COST_TEXT.fullmatch(value):
        return None
    try:
        cost = Decimal(value)
    except InvalidOperation:  # an exponent beyond what Decimal holds
        return None
    if not Decimal(0) <= cost <= MAX_ANSWER_COST_EUR:
        return None
    return cost.copy_abs()  # "-0.0000" is a zero, not a negative one


def eur(value: Decimal) -> Decimal:
    """Money rounded to DumGum's 4 decimals (banker's rounding, as Decimal does by default)."""
    return value.quantize(EUR_PLACES, rounding=ROUND_HALF_EVEN)


def eur_str(value: Decimal) -> str:
    return str(eur(value))


def rate_str(value: Decimal) -> str:
    """A per-answer or per-conversation average, with 6 decimals."""
    return str(value.quantize(RATE_PLACES, rounding=ROUND_HALF_EVEN))


def decimal_count(count: float) -> Decimal:
    """An expected count (float) as Decimal, to multiply by a price without float money."""
    return Decimal(repr(round(count, 6)))


def times(count: float, price: Decimal) -> Decimal:
    """``count`` items at ``price``, exact for whole counts."""
    if float(count).is_integer():
        return price * int(count)
    return decimal_count(count) * price
