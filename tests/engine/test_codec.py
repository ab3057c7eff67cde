"""Stored entries and metadata decode to what was encoded, one at a time or a whole history at once.

``HistoryStore.load`` decodes a history with ``decode_entries`` /
``decode_metas`` and builds its indexes in one go; what it holds must be
exactly what indexing the same entries one by one builds, including for
entries whose metadata row is missing.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from actorscope.engine import MemoryDriver, codec
from actorscope.engine.driver import Set
from actorscope.engine.model import (
    BranchState,
    BranchStatus,
    Entry,
    EntryKind,
    EntryMetadata,
    EntryStatus,
    JoinKind,
    LoopKind,
    LoopMarker,
    MessageKind,
    RaceKind,
    RemovedKind,
    RollbackCheckpointKind,
    SleepKind,
    SleepState,
    StepKind,
    VersionCheckKind,
)
from actorscope.engine.store import HistoryStore

small = st.integers(min_value=0, max_value=2**40)
text = st.text(max_size=8)
blobs = st.none() | st.binary(max_size=8)
branches = st.dictionaries(
    text, st.builds(BranchStatus, st.sampled_from(BranchState), blobs, st.none() | text), max_size=3
)
kinds: st.SearchStrategy[EntryKind] = st.one_of(
    st.builds(StepKind, blobs, st.none() | text),
    st.builds(LoopKind, st.binary(max_size=8), small, blobs),
    st.builds(SleepKind, small, st.sampled_from(SleepState)),
    st.builds(MessageKind, text, st.binary(max_size=8)),
    st.builds(RollbackCheckpointKind, text),
    st.builds(JoinKind, branches),
    st.builds(RaceKind, st.none() | text, branches),
    st.builds(RemovedKind, text, st.none() | text),
    st.builds(VersionCheckKind, small, small),
)
segments = st.integers(min_value=0, max_value=20) | st.builds(
    LoopMarker, st.integers(min_value=0, max_value=20), st.integers(min_value=0, max_value=5)
)
locations = st.lists(segments, min_size=1, max_size=4).map(tuple)
metas = st.builds(
    EntryMetadata,
    st.sampled_from(EntryStatus),
    st.none() | text,
    small,
    small,
    small,
    st.none() | small,
    st.none() | small,
    st.none() | text,
)


@st.composite
def histories(draw: st.DrawFn) -> list[tuple[Entry, EntryMetadata | None]]:
    count = draw(st.integers(min_value=0, max_value=12))
    ids = draw(st.lists(st.sampled_from("abcdef"), min_size=count, max_size=count))
    return [
        (Entry(f"id-{ids[i]}", draw(locations), draw(kinds), i * 3), draw(st.none() | metas))
        for i in range(count)
    ]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=6), locations, kinds, small), max_size=8), metas)
def test_decoding_a_history_is_decoding_each_entry(
    fields: list[tuple[str, tuple[int | LoopMarker, ...], EntryKind, int]], meta: EntryMetadata
) -> None:
    entries = [Entry(*f) for f in fields]
    rows = [(codec.int_key(codec.ENTRY, e.seq), codec.encode_entry(e)) for e in entries]
    assert codec.decode_entries(rows) == entries
    assert [
        codec.decode_entry(value, e.seq) for (_, value), e in zip(rows, entries, strict=True)
    ] == entries
    assert codec.decode_metas([codec.encode_meta(meta)] * 2) == [meta, meta]
    assert codec.decode_meta(codec.encode_meta(meta)) == meta


@settings(max_examples=150, deadline=None)
@given(histories())
async def test_a_loaded_store_is_the_store_indexed_entry_by_entry(
    history: list[tuple[Entry, EntryMetadata | None]],
) -> None:
    driver = MemoryDriver()
    ops = [Set(codec.int_key(codec.NAME, i), f"name{i}".encode()) for i in range(3)]
    for entry, meta in history:
        ops.append(Set(codec.int_key(codec.ENTRY, entry.seq), codec.encode_entry(entry)))
        if meta is not None:  # a missing metadata row loads as the default
            ops.append(Set(codec.int_key(codec.META, entry.seq), codec.encode_meta(meta)))
    await driver.batch(ops)

    loaded = await HistoryStore.load(driver)
    expected = HistoryStore(driver)
    for i in range(3):
        expected.name_index(f"name{i}")
    for entry, meta in history:
        final = meta or EntryMetadata()
        expected._index(entry, codec.encode_entry(entry), final, codec.encode_meta(final))
    for field in (
        "names",
        "name_ids",
        "entries",
        "pos",
        "by_location",
        "children",
        "meta",
        "entry_raw",
        "meta_raw",
    ):
        assert getattr(loaded, field) == getattr(expected, field), field
