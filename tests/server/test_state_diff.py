"""The state diff a restoring dry run shows (server/state_diff.py)."""

from __future__ import annotations

import pytest
from actorscope.server.definitions import ActorDefinition
from actorscope.server.state_diff import state_diff


def test_changes_name_each_differing_leaf() -> None:
    current = {"timeline": ["one", "two", "three"], "count": 3, "flag": True, "gone": 1}
    restored = {"timeline": ["one"], "count": 1, "flag": 1, "new": {"a": []}}
    assert state_diff(current, restored) == [
        {"path": ["gone"], "op": "remove", "from": 1},
        {"path": ["timeline", 1], "op": "remove", "from": "two"},
        {"path": ["timeline", 2], "op": "remove", "from": "three"},
        {"path": ["count"], "op": "replace", "from": 3, "to": 1},
        {"path": ["flag"], "op": "replace", "from": True, "to": 1},
        {"path": ["new"], "op": "add", "to": {"a": []}},
    ]
    assert state_diff(current, current) == []
    assert state_diff(None, {"x": 1}) == [
        {"path": [], "op": "replace", "from": None, "to": {"x": 1}}
    ]


def test_large_and_deep_states_stay_bounded() -> None:
    assert len(state_diff(list(range(1000)), [], limit=50)) == 50
    deep: object = 0
    for _ in range(5000):
        deep = [deep]
    assert state_diff(deep, 1) == [{"path": [], "op": "replace", "from": deep, "to": 1}]


def test_state_checkpoints_need_a_state_and_a_workflow() -> None:
    async def wf(ctx: object, actor: object) -> None:
        return None

    assert ActorDefinition("a", {}, workflow=wf, state_checkpoints=True).state_checkpoints == 100
    assert ActorDefinition("a", {}, workflow=wf, state_checkpoints=7).state_checkpoints == 7
    assert ActorDefinition("a", {}, workflow=wf).state_checkpoints == 0
    with pytest.raises(ValueError, match="needs a state"):
        ActorDefinition("a", None, workflow=wf, state_checkpoints=True)
    with pytest.raises(ValueError, match="needs a state"):
        ActorDefinition("a", {}, state_checkpoints=True)
    with pytest.raises(ValueError, match="positive"):
        ActorDefinition("a", {}, workflow=wf, state_checkpoints=-1)
