"""The hand-computed example of ``tests/unit/cost/test_cost_run_example.py`` driven through the
mock and the receiver on loopback: the run's projection reproduces it to the cent, and the
billable projection equals the mock's own ledger priced by the same sheet."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from tests.conftest import Stack, StackFactory, body
from tests.unit.cost.cost_helpers import example_sheet, request

from dumgum_loadtest.analysis.load import load_raw
from dumgum_loadtest.analysis.outcomes import classify
from dumgum_loadtest.analysis.tables import RunTables
from dumgum_loadtest.cost import cost_section_for_run_dir, run_cost
from dumgum_loadtest.cost.calibrate import calibrate
from dumgum_loadtest.cost.sheet import load_price_sheet
from dumgum_loadtest.records import RAW_DIR, TAG_REQUEST, TAG_RUN

pytestmark = pytest.mark.integration

TIME_SCALE = 0.01  # the stack's quiet model
VISION_ALL = {
    "userProfilePictureAnalysis": True,
    "personaProfilePictureAnalysis": True,
    "shareablePicturesAnalysis": True,
}


class Recorder:
    """Sends like the generator does: tags carry the ids, one request record per send."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.records: list[dict[str, Any]] = []

    def send(
        self, request_id: str, conversation: str, user: str, persona: str, **params: Any
    ) -> None:
        test_mode = bool(params.pop("testMode", False))
        payload = body(user, persona, params={"bufferSeconds": 0, **params})
        payload["tags"] = {TAG_RUN: "run", TAG_REQUEST: request_id}
        if test_mode:
            payload["testMode"] = True
        sent_ns = time.time_ns()
        response = self.stack.enqueue(payload)
        assert response.status_code == 204, response.text
        vision = params.get("vision") or {}
        self.records.append(
            request(
                request_id,
                sent_ns / 1e9,
                conversation,
                user,
                persona,
                params.get("chatModel", "dating-smart-1"),
                buffer_s=int(params.get("bufferSeconds", 0)),
                test_mode=test_mode,
                generate_personality=params.get("generatePersonality") is True,
                vision=True in vision.values(),
                shareable_pictures=len(params.get("shareablePictures") or []),
                multiple_messages=params.get("multipleMessagesPerReply") is True,
            )
        )

    def write_run_dir(self, run_dir: Path, ledger: dict[str, Any]) -> None:
        raw = run_dir / RAW_DIR
        raw.mkdir(parents=True)
        lines = b"".join(orjson.dumps(r) + b"\n" for r in self.records)
        (raw / "requests-0.jsonl").write_bytes(lines)
        for shard in self.stack.out_dir.glob("events-*.jsonl"):
            shutil.copy(shard, raw / shard.name)
        (run_dir / "mock-ledger.json").write_bytes(orjson.dumps(ledger))
        (run_dir / "environment.json").write_bytes(orjson.dumps({"time_scale": TIME_SCALE}))


def _mock_prices() -> dict[str, Any]:
    sheet = example_sheet()
    return {
        "models": {
            model.value: {"price_eur": str(price)} for model, price in sheet.reply_per_model.items()
        },
        "prices": {
            "vision_eur_per_picture": str(sheet.vision_per_picture),
            "soulengine_eur_per_persona": str(sheet.soulengine_per_persona),
        },
        # a split reply has two messages
        "split": {"default_probability": 1.0, "three_message_share": 0.0},
    }


def _drive_the_example(stack: Stack) -> Recorder:
    sender = Recorder(stack)
    # r1, r2: one burst inside a 30 s buffer (0.3 s at this time scale): one reply
    sender.send("r1", "c1", "u1", "p1", bufferSeconds=30)
    sender.send("r2", "c1", "u1", "p1", bufferSeconds=30, generatePersonality=True)
    stack.settle()
    # r3: a later turn, split into two messages; p1 already has its SoulEngine analysis
    sender.send("r3", "c1", "u1", "p1", generatePersonality=True, multipleMessagesPerReply=True)
    # r4: testMode on chat-2-smart
    sender.send("r4", "c2", "u2", "p2", chatModel="chat-2-smart", testMode=True)
    stack.settle()
    # r5 then r6: u3's and p3's main pictures, new then repeated
    sender.send("r5", "c3", "u3", "p3", chatModel="chat-2-smart", vision=VISION_ALL)
    stack.settle()
    sender.send("r6", "c3", "u3", "p3", chatModel="chat-2-smart", vision=VISION_ALL)
    # r7: u4's main picture and p3's two uncaptioned shareable pictures are new
    pictures = [
        {"id": f"p3-{k}", "url": f"https://pictures.example.invalid/p3/{k}.jpg"} for k in (1, 2)
    ]
    sender.send(
        "r7",
        "c4",
        "u4",
        "p3",
        chatModel="chat-2-pro",
        vision=VISION_ALL,
        shareablePictures=pictures,
    )
    stack.settle()
    # r8: generation fails, the conversation is dropped
    assert stack.patch_config({"faults": {"generation_failure_rate": 1.0}}).status_code == 200
    sender.send("r8", "c5", "u5", "p4", chatModel="dating-pro-1")
    stack.settle()
    assert stack.patch_config({"faults": {"generation_failure_rate": 0.0}}).status_code == 200
    return sender


def test_run_projection_reproduces_the_example_and_the_ledger(
    make_stack: StackFactory, tmp_path: Path
) -> None:
    stack = make_stack(**_mock_prices())
    sender = _drive_the_example(stack)
    ledger = stack.settle()
    run_dir = tmp_path / "run"
    sender.write_run_dir(run_dir, ledger)

    raw = load_raw(run_dir)
    outcome = classify(raw.requests, raw.events, TIME_SCALE)
    assert list(outcome) == ["merged", *["answered"] * 6, "dropped"]
    tables = RunTables.from_raw(raw)
    cost = run_cost(tables, outcome, example_sheet(), time_scale=TIME_SCALE, mock_ledger=ledger)

    # The hand-computed figures, to the cent.
    assert cost["projected"]["total_eur"] == "0.4350"
    assert cost["projected_billable"]["total_eur"] == "0.3850"
    assert cost["measured"]["total_eur"] == "0.2100"
    assert cost["measured"]["split_followups"] == 1
    assert cost["difference"]["unexplained_eur"] == "0.0000"
    # The mock billed exactly what the billable projection says, item by item.
    assert ledger["billed_replies"] == 5 and ledger["merged"] == 1
    assert ledger["vision_analyses"] == 5 and ledger["soulengine_activations"] == 1
    assert cost["mock_ledger"]["projected_billable_minus_ledger_eur"] == "0.0000"
    assert ledger["cost"]["total_eur"] == cost["projected_billable"]["total_eur"]
    assert ledger["cost"]["replies_eur"] == cost["measured"]["total_eur"]

    # The same section rebuilt from the run directory alone.
    rebuilt = cost_section_for_run_dir(run_dir, example_sheet())
    assert rebuilt["projected"] == cost["projected"]

    # Calibrating from this run finds the mock's reply prices for the models it answered.
    sheet_path = tmp_path / "calibrated.yaml"
    sheet_path.write_text(calibrate(run_dir))
    calibrated = load_price_sheet(sheet_path)
    assert str(calibrated.reply_price("chat-2-pro")) == "0.0600"
    assert str(calibrated.reply_price("chat-2-smart")) == "0.0500"
    assert calibrated.is_placeholder("reply_per_model.dating-pro-1")  # only dropped: unseen
