"""StateFrames: every spliced StateResponse is byte for byte what the codec writes."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from actorscope.protocol.framing import decode_to_client
from actorscope.protocol.messages import StateResponse, ToClient
from actorscope.protocol.negotiation import ServerSide
from actorscope.protocol.versions import NEWEST_VERSION
from actorscope.server.state_frames import StateFrames

_U64_MAX = 2**64 - 1


@settings(max_examples=300, deadline=None)
@given(
    negotiated=st.none() | st.integers(1, NEWEST_VERSION),
    rids=st.lists(st.integers(0, _U64_MAX), min_size=1, max_size=8),
    state=st.none() | st.binary(max_size=300),
    enabled=st.booleans(),
)
def test_spliced_frames_are_the_codecs(
    negotiated: int | None, rids: list[int], state: bytes | None, enabled: bool
) -> None:
    versions = ServerSide(negotiated)
    frames = StateFrames()
    for rid in rids:
        expected = versions.encode(ToClient(StateResponse(rid, state, enabled)))
        assert frames.frame(versions, rid, state, enabled) == expected


def test_a_new_state_version_or_flag_makes_a_new_template() -> None:
    versions = ServerSide(None)  # embedded: the version follows the peer's frames
    frames = StateFrames()
    first = frames.frame(versions, 7, b"\xa1a\x01", True)
    changed_state = frames.frame(versions, 7, b"\xa1a\x02", True)
    disabled = frames.frame(versions, 7, None, False)
    versions.version = 2
    older = frames.frame(versions, 7, b"\xa1a\x02", True)
    assert len({first, changed_state, disabled, older}) == 4
    assert decode_to_client(older)[0] == 2
    body = decode_to_client(changed_state)[1].body
    assert body == StateResponse(7, b"\xa1a\x02", True)
