"""Reading the inspector handshake from an ASGI scope (PROTOCOL.md §1, §6)."""

from __future__ import annotations

from typing import Any

import pytest
from actorscope.protocol.versions import NEWEST_VERSION, VERSIONS
from actorscope.server.ws_handshake import Handshake, InvalidProtocolVersion, parse_handshake


def scope(
    query: bytes = b"",
    subprotocols: list[str] | None = None,
    headers: list[tuple[bytes, bytes]] | None = None,
    actor: str | None = None,
) -> dict[str, Any]:
    return {
        "type": "websocket",
        "query_string": query,
        "subprotocols": subprotocols or [],
        "headers": headers or [],
        "path_params": {"actorId": actor} if actor is not None else {},
    }


def test_embedded_mode_by_default() -> None:
    assert parse_handshake(scope(actor="a"), 4) == Handshake("a", None, None, None)


@pytest.mark.parametrize("version", VERSIONS)
def test_negotiated_versions(version: int) -> None:
    parsed = parse_handshake(scope(f"protocol_version={version}".encode()), NEWEST_VERSION)
    assert parsed.protocol_version == version


@pytest.mark.parametrize(
    ("query", "version"),
    [
        # PROTOCOL.md §9.2: form-decoded, then a decimal u16; the first one counts.
        (b"protocol_version=%2B4", 4),
        (b"protocol_version=004", 4),
        (b"protocol_version=2&protocol_version=3", 2),
    ],
)
def test_versions_as_upstream_parses_them(query: bytes, version: int) -> None:
    assert parse_handshake(scope(query), 4).protocol_version == version


@pytest.mark.parametrize(
    "query",
    [
        b"protocol_version=",
        b"protocol_version",
        b"protocol_version=abc",
        b"protocol_version=0",
        b"protocol_version=5",
        b"protocol_version=65536",
        b"protocol_version=99999999999999999999",
        b"protocol_version=+4",  # "+" decodes to a space
        b"protocol_version=%204",
        b"protocol_version=%D9%A4",  # ARABIC-INDIC DIGIT FOUR
        b"protocol_version=x&protocol_version=3",
    ],
)
def test_invalid_versions(query: bytes) -> None:
    with pytest.raises(InvalidProtocolVersion):
        parse_handshake(scope(query), 4)


def test_version_above_the_cap_is_invalid() -> None:
    assert parse_handshake(scope(b"protocol_version=3"), 3).protocol_version == 3
    with pytest.raises(InvalidProtocolVersion):
        parse_handshake(scope(b"protocol_version=4"), 3)


def test_subprotocols_name_actor_and_token_and_rivet_is_selected() -> None:
    parsed = parse_handshake(
        scope(
            subprotocols=[
                "rivet",
                "rivet_target.actor",
                "rivet_actor.abc%2Fdef",
                "rivet_encoding.bare",
                "rivet_token.not-this-one",
                "rivet_inspector_token.tok",
            ]
        ),
        4,
    )
    assert parsed == Handshake("abc/def", "tok", None, "rivet")


def test_path_actor_wins_and_bearer_header_is_read() -> None:
    parsed = parse_handshake(
        scope(
            subprotocols=["rivet_actor.other"],
            headers=[(b"authorization", b"Bearer  tok2 ")],
            actor="a",
        ),
        4,
    )
    assert parsed == Handshake("a", "tok2", None, None)


def test_subprotocol_token_wins_over_header_and_non_bearer_is_ignored() -> None:
    both = scope(
        subprotocols=["rivet_inspector_token.sub"], headers=[(b"Authorization", b"Bearer hdr")]
    )
    assert parse_handshake(both, 4).token == "sub"
    basic = scope(headers=[(b"authorization", b"Basic abc")])
    assert parse_handshake(basic, 4).token is None
