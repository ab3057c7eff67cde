"""``actorscope frame``: decode, encode and convert captured frames from the command line.

A few tests run the real command in a subprocess (argument and stdin modes,
exit codes); the rest call the CLI's ``main`` in-process so that every vector
goes through the command's own parsing and output code quickly.

Expected Error frames for requests that cannot go down are written here from
PROTOCOL.md §3/§5, not derived from the converters.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from actorscope.protocol import NEWEST_VERSION, VERSIONS
from actorscope.server.cli import main

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
# v1-v4 (rivetkit 2.2.1) and v5-v6 (2.3.19) vectors together.
FRAMES: list[dict[str, Any]] = [
    *json.loads((VECTORS / "inspector-frames.json").read_text()),
    *json.loads((VECTORS / "v5-v6" / "inspector-frames.json").read_text()),
]
CONVERSIONS: list[dict[str, Any]] = [
    *json.loads((VECTORS / "conversions.json").read_text()),
    *json.loads((VECTORS / "v5-v6" / "conversions.json").read_text()),
]

# The union tag of ToClient's Error at each version (PROTOCOL.md §3, §9.3).
ERROR_TAG = {1: 8, 2: 11, 3: 11, 4: 12, 5: 12, 6: 16}
# §5: the Error a request gets when it cannot go down to the target version.
REQUEST_ERROR = {
    "EventsRequest": "inspector.events_dropped",
    "ClearEventsRequest": "inspector.events_dropped",
    "TraceQueryRequest": "inspector.trace_unsupported",
    "QueueRequest": "inspector.queue_unsupported",
    "WorkflowHistoryRequest": "inspector.workflow_history_unsupported",
    "WorkflowReplayRequest": "inspector.workflow_replay_unsupported",
    "DatabaseSchemaRequest": "inspector.database_unsupported",
    "DatabaseTableRowsRequest": "inspector.database_unsupported",
    "SchedulesRequest": "inspector.schedules_unsupported",
    "ScheduleHistoryRequest": "inspector.schedules_unsupported",
    "ScheduleDeleteRequest": "inspector.schedules_unsupported",
}
# The ToServer union tag of each request per version (§3), to name the request
# inside a conversion vector's input frame without using our decoder.
REQUEST_TAGS = {
    1: [
        "PatchStateRequest",
        "StateRequest",
        "ConnectionsRequest",
        "ActionRequest",
        "EventsRequest",
        "ClearEventsRequest",
        "RpcsListRequest",
    ],
    2: [
        "PatchStateRequest",
        "StateRequest",
        "ConnectionsRequest",
        "ActionRequest",
        "RpcsListRequest",
        "TraceQueryRequest",
        "QueueRequest",
        "WorkflowHistoryRequest",
    ],
    3: [
        "PatchStateRequest",
        "StateRequest",
        "ConnectionsRequest",
        "ActionRequest",
        "RpcsListRequest",
        "TraceQueryRequest",
        "QueueRequest",
        "WorkflowHistoryRequest",
        "DatabaseSchemaRequest",
        "DatabaseTableRowsRequest",
    ],
    4: [
        "PatchStateRequest",
        "StateRequest",
        "ConnectionsRequest",
        "ActionRequest",
        "RpcsListRequest",
        "TraceQueryRequest",
        "QueueRequest",
        "WorkflowHistoryRequest",
        "WorkflowReplayRequest",
        "DatabaseSchemaRequest",
        "DatabaseTableRowsRequest",
    ],
}
REQUEST_TAGS[5] = REQUEST_TAGS[4]  # §9.3: v5 requests are v4's
REQUEST_TAGS[6] = [*REQUEST_TAGS[4], "SchedulesRequest", "ScheduleHistoryRequest",
                   "ScheduleDeleteRequest"]


def _dash(direction: str) -> str:
    return direction.replace("_", "-")


def _error_frame(version: int, message: str) -> str:
    """A ToClient ``Error { message }`` frame at ``version``, embedded prefix (§1-§3)."""
    text = message.encode()
    assert len(text) < 128  # one-byte varint length
    return (version.to_bytes(2, "little") + bytes([ERROR_TAG[version], len(text)]) + text).hex()


def _expected_conversion(c: dict[str, Any]) -> str:
    if not c["adjacent_threw"]:
        out: str = c["adjacent_output_hex"]
        return out
    # A request that cannot go down: the Error answer at the target version (§5).
    assert c["direction"] == "to_server"
    frame = bytes.fromhex(c["input_hex"])
    name = REQUEST_TAGS[c["from_version"]][frame[2]]
    return _error_frame(c["to_version"], REQUEST_ERROR[name])


def _run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "actorscope", "frame", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _main(
    args: list[str],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    stdin: str | None = None,
) -> tuple[int, list[str]]:
    """Call the CLI in-process; returns (exit code, output lines)."""
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin.encode())))
    code = main(["frame", *args])
    return code, capsys.readouterr().out.splitlines()


def _by_direction() -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for v in FRAMES:
        groups[v["direction"]].append(v)
    return groups


# -- the real command, in a subprocess --------------------------------------------


def test_decode_argument_with_embedded_prefix() -> None:
    vector = next(
        v
        for v in FRAMES
        if v["direction"] == "to_client"
        and v["version"] == 1
        and v["message"]["body"]["tag"] == "Init"
    )
    out = _run("decode", "--direction", "to-client", vector["hex"])
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"version": 1, "message": vector["message"]}
    assert out.stdout.count("\n") == 1


def test_decode_argument_negotiated_version_without_prefix() -> None:
    vector = next(
        v
        for v in FRAMES
        if v["direction"] == "to_server"
        and v["version"] == 4
        and v["message"]["body"]["tag"] == "WorkflowReplayRequest"
    )
    payload = vector["hex"][4:]
    out = _run("decode", "--direction", "to-server", "--version", "4", payload)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {"version": 4, "message": vector["message"]}
    # The same payload read as embedded mode is something else entirely (or garbage).
    assert _run("decode", "--direction", "to-server", payload).stdout != out.stdout


def test_encode_argument_both_json_forms_and_no_prefix() -> None:
    vector = next(
        v
        for v in FRAMES
        if v["direction"] == "to_client"
        and v["version"] == 3
        and v["message"]["body"]["tag"] == "QueueResponse"
    )
    message = json.dumps(vector["message"])
    out = _run("encode", "--direction", "to-client", "--version", "3", message)
    assert (out.returncode, out.stdout) == (0, vector["hex"] + "\n"), out.stderr
    wrapped = json.dumps({"version": 3, "message": vector["message"]})
    out = _run("encode", "--direction", "to-client", wrapped)
    assert (out.returncode, out.stdout) == (0, vector["hex"] + "\n"), out.stderr
    out = _run("encode", "--direction", "to-client", "--version", "3", "--no-prefix", message)
    assert (out.returncode, out.stdout) == (0, vector["hex"][4:] + "\n"), out.stderr


def test_convert_argument_to_an_error_frame() -> None:
    # A v4 TraceQueryRequest sent to a v1 server: the Error it answers (§5).
    request = "0400" + "05" + "07" + "00" + "e807" + "0a"  # tag 5, id 7, start 0, end 1000, 10
    out = _run("convert", "--direction", "to-server", "--to-version", "1", request)
    assert out.returncode == 0, out.stderr
    assert out.stdout == _error_frame(1, "inspector.trace_unsupported") + "\n"
    # A v4 replay response going down to v3 (conversions.json's adjacent output).
    c = next(
        c
        for c in CONVERSIONS
        if c["direction"] == "to_client"
        and c["to_version"] == 3
        and c["input_hex"].startswith("04000b")
    )
    out = _run("convert", "--direction", "to-client", "--to-version", "3", c["input_hex"])
    assert out.stdout == c["adjacent_output_hex"] + "\n"
    assert out.stdout == _error_frame(3, "inspector.workflow_history_dropped") + "\n"


def test_stdin_batch_streams_jsonl_and_reports_a_bad_line_without_stopping() -> None:
    vectors = [v for v in FRAMES if v["direction"] == "to_client"] * 20
    middle = len(vectors) // 2
    lines = [f"  {v['hex']}\t" for v in vectors]
    lines.insert(middle, "0400ff")  # unknown union tag 255
    lines.insert(10, "")  # blank lines are skipped, not answered
    out = _run("decode", "--direction", "to-client", stdin="\n".join(lines) + "\n")
    assert out.returncode == 1
    results = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(results) == len(vectors) + 1
    bad = results.pop(middle)
    assert set(bad) == {"error"}
    assert "tag 255" in bad["error"]
    assert results == [{"version": v["version"], "message": v["message"]} for v in vectors]


def test_stdin_decode_then_encode_pipeline_round_trips_every_vector() -> None:
    for direction, vectors in _by_direction().items():
        dec = _run(
            "decode",
            "--direction",
            _dash(direction),
            stdin="".join(v["hex"] + "\n" for v in vectors),
        )
        assert dec.returncode == 0, dec.stdout
        enc = _run("encode", "--direction", _dash(direction), stdin=dec.stdout)
        assert enc.returncode == 0, enc.stdout
        assert enc.stdout.splitlines() == [v["hex"] for v in vectors]


def test_bad_single_argument_prints_error_json_and_exits_1() -> None:
    out = _run("decode", "--direction", "to-server", "not hex")
    assert out.returncode == 1
    assert set(json.loads(out.stdout)) == {"error"}


def test_out_of_range_version_option_is_a_usage_error() -> None:
    beyond = str(NEWEST_VERSION + 1)
    out = _run("convert", "--direction", "to-server", "--to-version", beyond, "04000100")
    assert out.returncode not in (0, 1)
    assert "--to-version" in out.stderr
    assert out.stdout == ""


# -- the same code in-process, over every vector ------------------------------------


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
def test_every_vector_decodes_at_its_own_version_in_both_framings(
    direction: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    vectors = _by_direction()[direction]
    code, lines = _main(
        ["decode", "--direction", _dash(direction)],
        capsys,
        monkeypatch,
        stdin="".join(v["hex"] + "\n" for v in vectors),
    )
    assert code == 0
    expected = [{"version": v["version"], "message": v["message"]} for v in vectors]
    assert [json.loads(line) for line in lines] == expected
    for version in VERSIONS:
        at = [v for v in vectors if v["version"] == version]
        code, lines = _main(
            ["decode", "--direction", _dash(direction), "--version", str(version)],
            capsys,
            monkeypatch,
            stdin="".join(v["hex"][4:] + "\n" for v in at),
        )
        assert code == 0
        assert [json.loads(line) for line in lines] == [
            {"version": version, "message": v["message"]} for v in at
        ]


@pytest.mark.parametrize("direction", ["to_server", "to_client"])
def test_every_vector_encodes_from_its_message(
    direction: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for version in VERSIONS:
        at = [v for v in _by_direction()[direction] if v["version"] == version]
        code, lines = _main(
            ["encode", "--direction", _dash(direction), "--version", str(version)],
            capsys,
            monkeypatch,
            stdin="".join(json.dumps(v["message"]) + "\n" for v in at),
        )
        assert code == 0
        assert lines == [v["hex"] for v in at]
        code, lines = _main(
            ["encode", "--direction", _dash(direction), "--version", str(version), "--no-prefix"],
            capsys,
            monkeypatch,
            stdin="".join(json.dumps(v["message"]) + "\n" for v in at),
        )
        assert code == 0
        assert lines == [v["hex"][4:] for v in at]


def test_every_conversion_vector_through_convert(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    groups: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for c in CONVERSIONS:
        groups[(c["direction"], c["to_version"])].append(c)
    assert len(groups) == 2 * len(VERSIONS)
    for (direction, to_version), cases in groups.items():
        code, lines = _main(
            ["convert", "--direction", _dash(direction), "--to-version", str(to_version)],
            capsys,
            monkeypatch,
            stdin="".join(c["input_hex"] + "\n" for c in cases),
        )
        assert code == 0
        assert lines == [_expected_conversion(c) for c in cases], (direction, to_version)


def test_convert_to_the_frames_own_version_is_unchanged(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for direction, vectors in _by_direction().items():
        for version in VERSIONS:
            at = [v for v in vectors if v["version"] == version]
            code, lines = _main(
                ["convert", "--direction", _dash(direction), "--to-version", str(version)],
                capsys,
                monkeypatch,
                stdin="".join(v["hex"] + "\n" for v in at),
            )
            assert code == 0
            assert lines == [v["hex"] for v in at]


_STATE_REQUEST = '{"body": {"tag": "StateRequest", "val": {"id": 7}}}'
_DECODED = '{"version": 4, "message": ' + _STATE_REQUEST + "}"


@pytest.mark.parametrize(
    ("args", "good", "good_out", "bad", "reason"),
    [
        (["decode", "--direction", "to-server"], "04000107", _DECODED, "01", "too short"),
        (
            ["decode", "--direction", "to-server"],
            "04000107",
            _DECODED,
            "09000100",
            "unsupported protocol version 9",
        ),
        (
            ["decode", "--direction", "to-server"],
            "04000107",
            _DECODED,
            "0400010000",
            "trailing bytes",
        ),
        (
            ["decode", "--direction", "to-server"],
            "0x04 00 01 07",
            _DECODED,
            "04 00 01 zz",
            "invalid hex",
        ),
        (
            ["encode", "--direction", "to-server", "--version", "2"],
            _STATE_REQUEST,
            "02000107",
            "{",
            "invalid JSON",
        ),
        (
            ["encode", "--direction", "to-server"],
            _DECODED,
            "04000107",
            _STATE_REQUEST,
            "no version",
        ),
        (
            ["encode", "--direction", "to-server", "--version", "4"],
            _DECODED,
            "04000107",
            _DECODED.replace('"version": 4', '"version": 2'),
            "--version is 4",
        ),
        (
            ["encode", "--direction", "to-server", "--version", "1"],
            _STATE_REQUEST,
            "01000107",
            '{"body": {"tag": "WorkflowReplayRequest", "val": {"id": 1, "entryId": null}}}',
            "unknown tag",
        ),
        (
            ["encode", "--direction", "to-server", "--version", "4"],
            _STATE_REQUEST,
            "04000107",
            _STATE_REQUEST.replace("7", str(1 << 64)),
            "uint range",
        ),
        (
            ["encode", "--direction", "to-client", "--version", "4"],
            '{"body": {"tag": "QueueUpdated", "val": {"queueSize": 3}}}',
            "04000403",
            "[1, 2]",
            "expected an object",
        ),
        (
            ["convert", "--direction", "to-client", "--to-version", "2"],
            "040005026869",
            "020005026869",
            "0400",
            "end of input",
        ),
    ],
)
def test_bad_items_say_why_and_the_rest_still_go_through(
    args: list[str],
    good: str,
    good_out: str,
    bad: str,
    reason: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    code, lines = _main(args, capsys, monkeypatch, stdin=f"{good}\n{bad}\n\n{good}\n")
    assert code == 1
    assert len(lines) == 3
    error = json.loads(lines[1])
    assert set(error) == {"error"}
    assert reason in error["error"]
    if args[0] == "decode":
        assert [json.loads(lines[0]), json.loads(lines[2])] == [json.loads(good_out)] * 2
    else:
        assert [lines[0], lines[2]] == [good_out] * 2


def test_non_utf8_stdin_line_is_an_error_item(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = b"04000107\n\xff\xfe\n04000107\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(raw)))
    code = main(["frame", "decode", "--direction", "to-server"])
    lines = capsys.readouterr().out.splitlines()
    assert code == 1
    assert len(lines) == 3
    assert "utf-8" in json.loads(lines[1])["error"]
