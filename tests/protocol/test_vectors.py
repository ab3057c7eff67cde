"""Golden vectors from RivetKit's own codecs (tests/vectors/): decode and re-encode exactly."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from actorscope.protocol import (
    WorkflowHistory,
    decode_history,
    decode_versioned,
    encode_history,
    encode_versioned,
    from_json,
    message_from_json,
    to_json,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
FRAMES: list[dict[str, Any]] = json.loads((VECTORS / "inspector-frames.json").read_text())
HISTORIES: list[dict[str, Any]] = json.loads((VECTORS / "workflow-history.json").read_text())


def _frame_id(x: dict[str, Any]) -> str:
    return f"{x['direction']}-v{x['version']}-{x['message']['body']['tag']}-{x['hex'][:24]}"


def test_vector_files_cover_every_version_and_direction() -> None:
    seen = {(x["direction"], x["version"]) for x in FRAMES}
    assert seen == {(d, v) for d in ("to_server", "to_client") for v in (1, 2, 3, 4)}
    assert len(HISTORIES) >= 10


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
