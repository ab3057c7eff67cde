"""The .bare schemas: the parser, the spec's tag tables, and model-vs-schema drift."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import attrs
import pytest
from actorscope.protocol import (
    NEWEST_VERSION,
    VERSIONS,
    SchemaError,
    SchemaMismatch,
    body_classes,
    history,
    v4,
)
from actorscope.protocol.codec import Codec
from actorscope.protocol.modelcheck import check_bindings
from actorscope.protocol.schema import (
    Enum,
    Field,
    ListType,
    MapType,
    Named,
    OptionalType,
    Primitive,
    Struct,
    Union,
    parse_schema,
    snake_case,
)
from actorscope.protocol.versions import MODULES as VERSION_MODULES

REPO = Path(__file__).resolve().parents[2]
MODULES = {f"v{n}": m for n, m in VERSION_MODULES.items()} | {"workflow-history-v1": history}
FILES = {label: f"{label}.bare" for label in MODULES}


# -- parser -----------------------------------------------------------------------


def test_parses_every_construct() -> None:
    schema = parse_schema(
        """
        # comment
        type Alias u32
        type Color enum { RED GREEN }
        type S struct {
          a: uint   # trailing comment
          b: optional<list<str>>
          c: map<str><S2>
          d: data
        }
        type S2 struct { x: bool }
        type U union { S | S2 | Alias }
        type U2 union { | S | S2 }
        """,
        "test",
    )
    assert schema.types["Alias"] == Primitive("u32")
    assert schema.types["Color"] == Enum(("RED", "GREEN"))
    assert schema.types["S"] == Struct(
        (
            Field("a", Primitive("uint")),
            Field("b", OptionalType(ListType(Primitive("str")))),
            Field("c", MapType(Primitive("str"), Named("S2"))),
            Field("d", Primitive("data")),
        )
    )
    assert schema.types["U"] == Union((Named("S"), Named("S2"), Named("Alias")))
    assert schema.types["U2"] == Union((Named("S"), Named("S2")))
    assert list(schema.types) == ["Alias", "Color", "S", "S2", "U", "U2"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("type A struct { x: B }", "undeclared type B"),
        ("type A u8\ntype A u16", "declared twice"),
        ("type A union { B = 1 }\ntype B u8", "explicit union tags"),
        ("type A enum { X = 1 }", "explicit enum values"),
        ("type A enum { }", "empty or duplicate enum"),
        ("type A struct { x: u8 x: u8 }", "duplicate field"),
        ("type A union { B | B }\ntype B u8", "duplicate union member"),
        ("type A struct { x: u8 ", "unexpected end of schema"),
        ("type A struct { x; u8 }", "unexpected character ';' on line 1"),
        ("struct A { }", "expected 'type'"),
        ("type A\n  struct { x: struct }", "not allowed here"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(SchemaError, match=message):
        parse_schema(text, "test")


def test_snake_case() -> None:
    assert snake_case("isStateEnabled") == "is_state_enabled"
    assert snake_case("createdAtMs") == "created_at_ms"
    assert snake_case("id") == "id"
    assert snake_case("messageData") == "message_data"


# -- the shipped schema files --------------------------------------------------------


@pytest.mark.parametrize("label", FILES)
def test_schema_ships_in_the_package_and_matches_the_repo_file(label: str) -> None:
    shipped = resources.files("actorscope.schemas").joinpath(FILES[label]).read_text("utf-8")
    assert shipped == (REPO / "schemas" / FILES[label]).read_text("utf-8")
    assert parse_schema(shipped, label) == MODULES[label].SCHEMA
    assert MODULES[label].SCHEMA.types == parse_schema(shipped, label).types


# Union tag order, copied from the PROTOCOL.md §3 tables.
SPEC_TO_SERVER = {
    1: "PatchState State Connections Action Events ClearEvents RpcsList",
    2: "PatchState State Connections Action RpcsList TraceQuery Queue WorkflowHistory",
    3: "PatchState State Connections Action RpcsList TraceQuery Queue WorkflowHistory"
    " DatabaseSchema DatabaseTableRows",
    4: "PatchState State Connections Action RpcsList TraceQuery Queue WorkflowHistory"
    " WorkflowReplay DatabaseSchema DatabaseTableRows",
    5: "PatchState State Connections Action RpcsList TraceQuery Queue WorkflowHistory"
    " WorkflowReplay DatabaseSchema DatabaseTableRows",
    6: "PatchState State Connections Action RpcsList TraceQuery Queue WorkflowHistory"
    " WorkflowReplay DatabaseSchema DatabaseTableRows Schedules ScheduleHistory ScheduleDelete",
}
SPEC_TO_CLIENT = {
    1: "StateResponse ConnectionsResponse EventsResponse ActionResponse ConnectionsUpdated"
    " EventsUpdated StateUpdated RpcsListResponse Error Init",
    2: "StateResponse ConnectionsResponse ActionResponse ConnectionsUpdated QueueUpdated"
    " StateUpdated WorkflowHistoryUpdated RpcsListResponse TraceQueryResponse QueueResponse"
    " WorkflowHistoryResponse Error Init",
    3: "StateResponse ConnectionsResponse ActionResponse ConnectionsUpdated QueueUpdated"
    " StateUpdated WorkflowHistoryUpdated RpcsListResponse TraceQueryResponse QueueResponse"
    " WorkflowHistoryResponse Error Init DatabaseSchemaResponse DatabaseTableRowsResponse",
    4: "StateResponse ConnectionsResponse ActionResponse ConnectionsUpdated QueueUpdated"
    " StateUpdated WorkflowHistoryUpdated RpcsListResponse TraceQueryResponse QueueResponse"
    " WorkflowHistoryResponse WorkflowReplayResponse Error Init DatabaseSchemaResponse"
    " DatabaseTableRowsResponse",
    # §9.3: v5 has v4's unions; v6 appends three requests and inserts four
    # client-bound members (SchedulesUpdated at 7, three responses at 13-15).
    5: "StateResponse ConnectionsResponse ActionResponse ConnectionsUpdated QueueUpdated"
    " StateUpdated WorkflowHistoryUpdated RpcsListResponse TraceQueryResponse QueueResponse"
    " WorkflowHistoryResponse WorkflowReplayResponse Error Init DatabaseSchemaResponse"
    " DatabaseTableRowsResponse",
    6: "StateResponse ConnectionsResponse ActionResponse ConnectionsUpdated QueueUpdated"
    " StateUpdated WorkflowHistoryUpdated SchedulesUpdated RpcsListResponse TraceQueryResponse"
    " QueueResponse WorkflowHistoryResponse WorkflowReplayResponse SchedulesResponse"
    " ScheduleHistoryResponse ScheduleDeleteResponse Error Init DatabaseSchemaResponse"
    " DatabaseTableRowsResponse",
}


def test_the_spec_tables_cover_every_version() -> None:
    assert set(SPEC_TO_SERVER) == set(SPEC_TO_CLIENT) == set(VERSIONS)


@pytest.mark.parametrize("version", VERSIONS)
def test_union_tag_order_matches_the_spec_tables(version: int) -> None:
    schema = MODULES[f"v{version}"].SCHEMA
    server = schema.types["ToServerBody"]
    client = schema.types["ToClientBody"]
    assert isinstance(server, Union)
    assert isinstance(client, Union)
    assert [m.name for m in server.members] == [  # type: ignore[union-attr]
        n + "Request" for n in SPEC_TO_SERVER[version].split()
    ]
    assert [m.name for m in client.members] == SPEC_TO_CLIENT[version].split()  # type: ignore[union-attr]
    names = [c.__name__ for c in body_classes("to_client", version)]
    # Init changed in v2, v5 and v6: each shape has its own class (InitV1,
    # InitV2, InitV5, Init); every other member is the shared class.
    assert ["Init" if n.startswith("Init") else n for n in names] == client_names(version)
    init_class = names[client_names(version).index("Init")]
    assert init_class == {1: "InitV1", 5: "InitV5", NEWEST_VERSION: "Init"}.get(version, "InitV2")


def client_names(version: int) -> list[str]:
    return SPEC_TO_CLIENT[version].split()


# -- model vs schema drift -------------------------------------------------------------


@pytest.mark.parametrize("label", FILES)
def test_model_matches_schema(label: str) -> None:
    module = MODULES[label]
    assert check_bindings(module.SCHEMA, module.CODEC.bindings) == []
    # Every type of the schema is bound, and every struct is a frozen slotted attrs class.
    assert set(module.CODEC.bindings) == set(module.SCHEMA.types)
    for name, tdef in module.SCHEMA.types.items():
        if isinstance(tdef, Struct):
            cls = module.CODEC.bindings[name]
            assert attrs.has(cls) and "__slots__" in cls.__dict__
            instance = cls(*[None] * len(tdef.fields))
            with pytest.raises(attrs.exceptions.FrozenInstanceError):
                setattr(instance, attrs.fields(cls)[0].name, 1)


def _v4_text() -> str:
    return (REPO / "schemas" / "v4.bare").read_text("utf-8")


def _history_text() -> str:
    return (REPO / "schemas" / "workflow-history-v1.bare").read_text("utf-8")


ALTERATIONS = {
    "swapped-fields": (
        "v4",
        "  id: uint\n  name: str\n  args: data",
        "  id: uint\n  args: data\n  name: str",
        "ActionRequest: ActionRequest fields",
    ),
    "renamed-field": ("v4", "  entryId: optional<str>", "  entry: optional<str>", "fields"),
    "changed-type": (
        "v4",
        "  queueSize: uint\n}",
        "  queueSize: str\n}",
        "QueueUpdated.queueSize",
    ),
    "dropped-optional": ("v4", "  entryId: optional<str>", "  entryId: str", "entryId"),
    "swapped-union-members": (
        "v4",
        "  PatchStateRequest\n  | StateRequest\n",
        "  StateRequest\n  | PatchStateRequest\n",
        "ToServerBody: union members",
    ),
    "extra-union-member": (
        "v4",
        "  | DatabaseTableRowsRequest\n}",
        "  | DatabaseTableRowsRequest\n  | Connection\n}",
        "ToServerBody: union members",
    ),
    "swapped-enum-values": (
        "history",
        "  PENDING\n  RUNNING\n  COMPLETED\n  FAILED\n  EXHAUSTED",
        "  RUNNING\n  PENDING\n  COMPLETED\n  FAILED\n  EXHAUSTED",
        "WorkflowEntryStatus: enum",
    ),
    "changed-alias": (
        "history",
        "type WorkflowNameIndex u32",
        "type WorkflowNameIndex str",
        "alias",
    ),
    "new-type": (
        "v4",
        "type Error struct {",
        "type Extra u8\ntype Error struct {",
        "Extra: no Python",
    ),
}


@pytest.mark.parametrize("alteration", ALTERATIONS, ids=list(ALTERATIONS))
def test_altered_schema_is_detected(alteration: str) -> None:
    which, old, new, problem = ALTERATIONS[alteration]
    text = _v4_text() if which == "v4" else _history_text()
    module = v4 if which == "v4" else history
    assert old in text
    altered = parse_schema(text.replace(old, new, 1), module.SCHEMA.label)
    problems = check_bindings(altered, module.CODEC.bindings)
    assert any(problem in p for p in problems), problems
    with pytest.raises(SchemaMismatch, match=problem.split(":")[0]):
        Codec(altered, module.CODEC.bindings)


def test_altered_model_is_detected() -> None:
    @attrs.frozen
    class ActionRequest:  # fields in the wrong order
        id: int
        args: bytes
        name: str

    @attrs.frozen
    class StateRequest:  # wrong field type
        id: str

    bindings = dict(v4.CODEC.bindings)
    bindings["ActionRequest"] = ActionRequest
    bindings["StateRequest"] = StateRequest
    problems = check_bindings(v4.SCHEMA, bindings)
    assert any(p.startswith("ActionRequest: ActionRequest fields") for p in problems), problems
    assert any(p.startswith("StateRequest.id:") for p in problems), problems
    # The ToServer body alias no longer names these classes either.
    assert any(p.startswith("ToServerBody: union members") for p in problems), problems


def test_unbound_and_extra_names_are_reported() -> None:
    bindings = dict(v4.CODEC.bindings)
    del bindings["Error"]
    bindings["Bogus"] = int
    problems = check_bindings(v4.SCHEMA, bindings)
    assert "Error: no Python binding (v4)" in problems
    assert any("Bogus" in p for p in problems)


def test_codec_refuses_unsupported_schema_constructs() -> None:
    schema = parse_schema("type A struct { x: f64 }", "test")
    with pytest.raises(SchemaError, match="not supported"):
        cls = attrs.make_class("A", {"x": attrs.field(type=float)}, frozen=True, slots=True)
        Codec(schema, {"A": cls})


def test_model_classes_must_be_plain_data() -> None:
    # The generated decoder fills slots directly, so __init__ must do nothing more.
    @attrs.frozen
    class WithDefault:
        id: int = 0

    @attrs.frozen
    class WithValidator:
        id: int = attrs.field(validator=attrs.validators.instance_of(int))

    @attrs.frozen
    class WithPostInit:
        id: int

        def __attrs_post_init__(self) -> None:
            pass

    for cls in (WithDefault, WithValidator, WithPostInit):
        bindings = {**v4.CODEC.bindings, "StateRequest": cls}
        problems = check_bindings(v4.SCHEMA, bindings)
        assert any("defaults, validators, converters or hooks" in p for p in problems), problems


def test_decoded_objects_are_ordinary_frozen_instances() -> None:
    from actorscope.protocol import StateRequest, ToServer, WorkflowReplayRequest, decode_to_server

    _, msg = decode_to_server(b"\x04\x00\x08\x05\x01\x02e1")
    built = ToServer(WorkflowReplayRequest(5, "e1"))
    assert msg == built and hash(msg) == hash(built) and repr(msg) == repr(built)
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        msg.body.id = 6  # type: ignore[misc]
    assert decode_to_server(b"\x04\x00\x01\x05")[1] == ToServer(StateRequest(5))
