"""The protocol versions this package speaks, and the module that pairs with each.

Each ``vN`` module holds ``SCHEMA`` (``schemas/vN.bare``), ``CODEC`` and, from
v2 on, the four converters between version N-1 and N
(``upgrade_to_server``, ``downgrade_to_server``, ``upgrade_to_client``,
``downgrade_to_client``) plus ``UPGRADES_ARE_IDENTITY``. Adding a version is
one schema file, one module and one entry here.
"""

from __future__ import annotations

from types import ModuleType

from . import v1, v2, v3, v4

__all__ = ["MODULES", "NEWEST_VERSION", "VERSIONS"]

MODULES: dict[int, ModuleType] = {1: v1, 2: v2, 3: v3, 4: v4}
VERSIONS: tuple[int, ...] = tuple(MODULES)
NEWEST_VERSION: int = VERSIONS[-1]
