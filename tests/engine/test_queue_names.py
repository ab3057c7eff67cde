"""``list_message_names``: the pending names, in order, without the values."""

from __future__ import annotations

from actorscope.engine import MemoryDriver
from actorscope.engine.queue import list_message_names, list_messages, send_message


async def test_names_in_send_order() -> None:
    driver = MemoryDriver()
    for name, value in (("a", 1), ("b", {"big": "x" * 1000}), ("a", [2])):
        await send_message(driver, name, value)
    assert await list_message_names(driver) == ["a", "b", "a"]
    assert [m.name for m in await list_messages(driver)] == ["a", "b", "a"]
