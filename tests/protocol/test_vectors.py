"""Golden vectors from RivetKit's own codecs (tests/vectors/): decode and re-encode exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from actorscope.protocol import (
    VERSIONS,
    WorkflowHistory,
    WorkflowVersionCheckEntry,
    decode_history,
    decode_versioned,
    encode_history,
    encode_versioned,
    from_json,
    message_from_json,
    to_json,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
NEW = VECTORS / "v5-v6"  # rivetkit 2.3.19; the rest is 2.2.1 (tests/vectors/README.md)
FRAMES: list[dict[str, Any]] = [
    *json.loads((VECTORS / "inspector-frames.json").read_text()),
    *json.loads((NEW / "inspector-frames.json").read_text()),
]
OLD_HISTORIES: list[dict[str, Any]] = json.loads((VECTORS / "workflow-history.json").read_text())
NEW_HISTORIES: list[dict[str, Any]] = json.loads((NEW / "workflow-history.json").read_text())
HISTORIES = [*OLD_HISTORIES, *NEW_HISTORIES]


def _frame_id(x: dict[str, Any]) -> str:
    return f"{x['direction']}-v{x['version']}-{x['message']['body']['tag']}-{x['hex'][:24]}"


def test_vector_files_cover_every_version_and_direction() -> None:
    seen = {(x["direction"], x["version"]) for x in FRAMES}
    assert seen == {(d, v) for d in ("to_server", "to_client") for v in VERSIONS}
    assert len(OLD_HISTORIES) >= 10 and len(NEW_HISTORIES) >= 10


def _kinds(history_json: dict[str, Any]) -> set[str]:
    return {e["kind"]["tag"] for e in history_json["entries"]}


def test_new_histories_carry_version_check_entries_the_old_ones_do_not() -> None:
    # PROTOCOL.md §9.4: tag 8 is what 2.3.x appended.
    assert any("WorkflowVersionCheckEntry" in _kinds(x["message"]) for x in NEW_HISTORIES)
    assert not any("WorkflowVersionCheckEntry" in _kinds(x["message"]) for x in OLD_HISTORIES)


def test_version_check_entry_is_tag_8() -> None:
    x = next(x for x in NEW_HISTORIES if "WorkflowVersionCheckEntry" in _kinds(x["message"]))
    history = decode_history(bytes.fromhex(x["hex"]))
    entry = next(e for e in history.entries if type(e.kind) is WorkflowVersionCheckEntry)
    json_entry = next(e for e in x["message"]["entries"] if e["id"] == entry.id)
    assert json_entry["kind"]["val"] == {
        "resolved": entry.kind.resolved,
        "latest": entry.kind.latest,
    }
    # The entry on the wire: id, location, then the kind tag byte 8 and two u32s.
    raw = encode_history(history)
    tail = bytes([8]) + entry.kind.resolved.to_bytes(4, "little")
    assert tail + entry.kind.latest.to_bytes(4, "little") in raw


@pytest.mark.parametrize("vector", FRAMES, ids=_frame_id)
def test_frame_decodes_to_its_message_and_reencodes_byte_identically(
    vector: dict[str, Any],
) -> None:
    frame = bytes.fromhex(vector["hex"])
    version, msg = decode_versioned(vector["direction"], frame)
    assert version == vector["version"]
    assert to_json(msg) == vector["message"]
    assert encode_versioned(vector["direction"], msg, version).hex() == vector["hex"]


@pytest.mark.parametrize("vector", FRAMES, ids=_frame_id)
def test_frame_builds_from_its_json_and_negotiated_payload(vector: dict[str, Any]) -> None:
    version = vector["version"]
    msg = message_from_json(vector["direction"], version, vector["message"])
    payload = encode_versioned(vector["direction"], msg, version, prefix=False)
    assert payload.hex() == vector["hex"][4:]
    assert decode_versioned(vector["direction"], payload, version) == (version, msg)


@pytest.mark.parametrize("vector", HISTORIES, ids=lambda x: x["hex"][:32])
def test_history_payload_decodes_to_its_message_and_reencodes(vector: dict[str, Any]) -> None:
    history = decode_history(bytes.fromhex(vector["hex"]))
    assert to_json(history) == vector["message"]
    assert from_json(WorkflowHistory, vector["message"]) == history
    assert encode_history(history).hex() == vector["hex"]
