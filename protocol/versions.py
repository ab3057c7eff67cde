"""The one table of protocol versions: which exist, and which message exists since when.

Everything else that needs version knowledge — the server's pushes and caps,
the client's request checks, the CLI's ``--version`` choices, the tests —
reads it from here, never from a list of its own (``tests/test_versions_table.py``
fails on a hard-coded version list outside ``protocol/``).

* :data:`MODULES` is the only hand-written entry per version: ``vN`` ->
  the module holding ``SCHEMA`` (``schemas/vN.bare``), ``CODEC``, its frozen
  unions and, from v2 on, the four converters between N-1 and N
  (``upgrade_to_server``, ``downgrade_to_server``, ``upgrade_to_client``,
  ``downgrade_to_client``) plus ``SERVER_UPGRADE_IS_IDENTITY`` /
  ``CLIENT_UPGRADE_IS_IDENTITY``.
* :data:`MESSAGE_VERSIONS` is derived from the schemas: each union member of
  ``ToServerBody`` / ``ToClientBody`` (by its schema name, ``"SchedulesRequest"``)
  -> the versions whose schema has it.
* Two rules are decisions of PROTOCOL.md §9.8 rather than schema facts, and
  are named here so they have one home: :data:`EMBEDDED_FIRST_VERSION` and
  :data:`VERSION_CHECK_ENTRIES_SINCE`.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType, ModuleType
from typing import Literal

from . import v1, v2, v3, v4, v5, v6
from .schema import Named, Primitive, Union

__all__ = [
    "EMBEDDED_FIRST_VERSION",
    "MESSAGE_VERSIONS",
    "MODULES",
    "NEWEST_VERSION",
    "TYPE_VERSIONS",
    "VERSIONS",
    "VERSION_CHECK_ENTRIES_SINCE",
    "exists",
    "has_type",
    "messages_at",
    "since",
]

MODULES: Mapping[int, ModuleType] = MappingProxyType(
    {n: m for n, m in enumerate((v1, v2, v3, v4, v5, v6), start=1)}
)
VERSIONS: tuple[int, ...] = tuple(MODULES)
NEWEST_VERSION: int = VERSIONS[-1]

#: The version an embedded-mode server speaks before the peer's first frame
#: says otherwise (§9.8: every embedded-mode inspector client in use decodes
#: v4; a v5 or v6 ``Init`` breaks the older ones), or its cap if lower.
EMBEDDED_FIRST_VERSION: int = 4

#: The oldest peer version that receives ``WorkflowVersionCheckEntry`` (tag 8)
#: in workflow histories; older peers' transport decoders reject it, so they
#: get histories without those entries and their metadata (§9.8).
VERSION_CHECK_ENTRIES_SINCE: int = 5

_Direction = Literal["to_server", "to_client"]
_UNIONS: dict[_Direction, str] = {"to_server": "ToServerBody", "to_client": "ToClientBody"}


def _members(module: ModuleType, union: str) -> tuple[str, ...]:
    u = module.SCHEMA.types[union]
    assert isinstance(u, Union)
    return tuple(m.name for m in u.members if isinstance(m, Named | Primitive))


_AT: dict[tuple[_Direction, int], tuple[str, ...]] = {
    (d, n): _members(m, union) for d, union in _UNIONS.items() for n, m in MODULES.items()
}

#: Message name (as in the schemas) -> the versions it exists in, ascending.
MESSAGE_VERSIONS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {
        name: tuple(n for n in VERSIONS if name in _AT[d, n])
        for d in _UNIONS
        for n in VERSIONS
        for name in _AT[d, n]
    }
)


#: Every schema type name (messages, shared structs such as ``TabConfigEntry``)
#: -> the versions whose schema declares it, ascending.
TYPE_VERSIONS: Mapping[str, tuple[int, ...]] = MappingProxyType(
    {
        name: tuple(n for n in VERSIONS if name in MODULES[n].SCHEMA.types)
        for m in MODULES.values()
        for name in m.SCHEMA.types
    }
)


def messages_at(direction: _Direction, version: int) -> tuple[str, ...]:
    """The message names of ``direction`` at ``version``, in union tag order."""
    return _AT[direction, version]


def exists(name: str, version: int) -> bool:
    """Whether message ``name`` (``"QueueUpdated"``) exists at ``version``."""
    return version in MESSAGE_VERSIONS.get(name, ())


def since(name: str) -> int:
    """The first version that has message ``name``.

    Raises:
        KeyError: no version has it.
    """
    return MESSAGE_VERSIONS[name][0]


def has_type(name: str, version: int) -> bool:
    """Whether the schema of ``version`` declares type ``name`` (``"TabConfigEntry"``)."""
    return version in TYPE_VERSIONS.get(name, ())
