"""The history tree rows, rendering and attempt diff (client/history_view.py, render.py)."""

from __future__ import annotations

from typing import Any

from actorscope.client.history_view import (
    diff_histories,
    format_duration,
    history_rows,
    location_path,
)
from actorscope.client.render import Style, render_diff, render_history, style_for

NAMES = ["validate", "items", "reserve-0", "reserve-1", "charge", "a/b"]


def _name(i: int) -> dict[str, Any]:
    return {"tag": "WorkflowNameIndex", "val": i}


def _marker(loop: int, iteration: int) -> dict[str, Any]:
    return {"tag": "WorkflowLoopIterationMarker", "val": {"loop": loop, "iteration": iteration}}


def _meta(
    status: str = "COMPLETED", created: int = 1000, done: int | None = 1010
) -> dict[str, Any]:
    return {
        "status": status,
        "error": None,
        "attempts": 1,
        "lastAttemptAt": created,
        "createdAt": created,
        "completedAt": done,
        "rollbackCompletedAt": None,
        "rollbackError": None,
    }


def _step(eid: str, location: list[dict[str, Any]], output: Any) -> dict[str, Any]:
    kind = {"tag": "WorkflowStepEntry", "val": {"output": output, "error": None}}
    return {"id": eid, "location": location, "kind": kind}


def _history(suffix: str, charge_output: Any) -> dict[str, Any]:
    loop_kind = {"tag": "WorkflowLoopEntry", "val": {"state": 0, "iteration": 2, "output": None}}
    entries = [
        _step("v", [_name(0)], "ok"),
        {"id": "loop" + suffix, "location": [_name(1)], "kind": loop_kind},
        _step("r0" + suffix, [_name(1), _marker(1, 0), _name(2)], 0),
        _step("r1" + suffix, [_name(1), _marker(1, 1), _name(3)], 1),
        _step("c" + suffix, [_name(4)], charge_output),
    ]
    return {
        "nameRegistry": NAMES,
        "entries": entries,
        "entryMetadata": {e["id"]: _meta() for e in entries},
    }


def test_location_path_spells_loop_iterations_and_escapes_names() -> None:
    assert location_path(NAMES, [_name(1), _marker(1, 1), _name(3)]) == "items/~1/reserve-1"
    assert location_path(NAMES, [_name(5)]) == "a%2Fb"


def test_rows_carry_path_kind_status_and_duration() -> None:
    rows = history_rows(_history("", 7))
    assert [r.path for r in rows] == [
        "validate",
        "items",
        "items/~0/reserve-0",
        "items/~1/reserve-1",
        "charge",
    ]
    assert [r.kind for r in rows] == ["step", "loop", "step", "step", "step"]
    assert rows[2].depth == 1 and rows[0].depth == 0
    assert rows[0].duration_ms == 10
    assert rows[1].detail == "iteration 2"
    assert rows[4].to_json()["durationMs"] == 10


def test_plain_rendering_has_no_escape_codes_and_colour_rendering_does() -> None:
    rows = history_rows(_history("", 7))
    plain = render_history(rows, Style(color=False))
    assert "\x1b[" not in plain
    assert "items/~1/reserve-1" in plain and "COMPLETED" in plain
    assert "\x1b[32mCOMPLETED" in render_history(rows, Style(color=True))


def test_style_for_a_pipe_is_plain() -> None:
    import io

    assert style_for(io.StringIO()).color is False


def test_diff_names_re_run_steps_and_changed_outputs() -> None:
    # The attempt kept "validate" (same id); everything from the loop on ran again.
    attempt = _history("", 7)
    current = _history("-new", 8)
    lines = {d.path: d for d in diff_histories(attempt, current)}
    assert lines["validate"].change == "kept"
    assert lines["items/~1/reserve-1"].change == "re-run"
    assert not lines["items/~1/reserve-1"].output_changed
    assert lines["charge"].change == "re-run" and lines["charge"].output_changed
    assert (lines["charge"].old_output, lines["charge"].new_output) == (7, 8)
    text = render_diff(list(lines.values()), 1, Style())
    assert "output changed: 7 → 8" in text


def test_diff_reports_steps_not_reached_again() -> None:
    attempt = _history("", 7)
    current = _history("-new", 7)
    current["entries"] = current["entries"][:2]
    lines = {d.path: d for d in diff_histories(attempt, current)}
    assert lines["charge"].change == "not-re-run"


def test_format_duration() -> None:
    assert [format_duration(x) for x in (None, 7, 1250, 123_000)] == ["-", "7ms", "1.25s", "2m03s"]


def test_diff_leaves_out_entries_kept_before_the_boundary() -> None:
    # An archived attempt holds only what the replay discarded (here: charge).
    attempt = _history("", 7)
    attempt["entries"] = attempt["entries"][4:]
    current = _history("-new", 8)
    current["entries"][0]["id"] = "v"  # validate was kept: created before the replay
    current["entryMetadata"] = {
        e["id"]: _meta(created=500 if e["id"] == "v" else 2000) for e in current["entries"]
    }
    lines = {d.path: d.change for d in diff_histories(attempt, current, replayed_at=1500)}
    assert lines == {
        "charge": "re-run",
        "items": "new",
        "items/~0/reserve-0": "new",
        "items/~1/reserve-1": "new",
    }


def test_a_version_check_row_shows_the_resolved_version() -> None:
    history = {
        "nameRegistry": ["charge-v2"],
        "entries": [
            {
                "id": "v",
                "location": [_name(0)],
                "kind": {"tag": "WorkflowVersionCheckEntry", "val": {"resolved": 1, "latest": 2}},
            }
        ],
        "entryMetadata": {"v": _meta()},
    }
    (row,) = history_rows(history)
    assert (row.path, row.kind, row.detail) == ("charge-v2", "version", "v1 (latest 2)")
