"""``MODULE:ATTR`` loading: what it accepts, and what each failure says."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from actorscope.server.app_loader import AppNotFound, AppRaised, as_registry, load_app
from actorscope.server.definitions import Actor, ActorDefinition, Registry, parse_create


@pytest.fixture
def app_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh directory as the cwd; modules written there are forgotten afterwards."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield tmp_path
    for name in set(sys.modules) - before:
        del sys.modules[name]


def write(directory: Path, name: str, source: str) -> None:
    (directory / f"{name}.py").write_text(textwrap.dedent(source))


APP = """
    import actorscope

    counter = actorscope.Actor("counter", state={"count": 0})

    @counter.action
    def increment(ctx, n=1):
        ctx.state["count"] += n
        return ctx.state["count"]

    other = actorscope.Actor("other")
    registry = actorscope.Registry([counter, other])
    actors = [counter, other]

    def make():
        return registry

    def make_list():
        return (counter,)

    number = 7
"""


@pytest.mark.parametrize("attr", ["registry", "actors", "make", "make_list", "counter"])
def test_every_accepted_shape_gives_a_registry(app_dir: Path, attr: str) -> None:
    write(app_dir, "shapes_app", APP)
    registry = load_app(f"shapes_app:{attr}")
    assert "counter" in registry.names()
    counter = registry.get("counter")
    assert counter is not None and sorted(counter.actions) == ["increment"]


def test_the_module_is_found_in_the_current_directory_first(app_dir: Path) -> None:
    assert str(app_dir) not in sys.path
    write(app_dir, "cwd_app", APP)
    assert load_app("cwd_app:registry").names() == ["counter", "other"]
    assert sys.path[0] == str(app_dir)


def test_a_missing_module_is_named(app_dir: Path) -> None:
    with pytest.raises(AppNotFound, match=r"cannot import module 'no_such_app'.*" + str(app_dir)):
        load_app("no_such_app:registry")


def test_a_missing_attribute_is_named_with_what_the_module_has(app_dir: Path) -> None:
    write(app_dir, "attr_app", APP)
    with pytest.raises(AppNotFound) as info:
        load_app("attr_app:regsitry")
    message = str(info.value)
    assert "module 'attr_app' has no attribute 'regsitry'" in message
    assert "registry" in message and "counter" in message


def test_a_value_of_the_wrong_kind_says_what_it_is(app_dir: Path) -> None:
    write(app_dir, "kind_app", APP)
    with pytest.raises(AppNotFound, match=r"kind_app:number: is a int, not a registry"):
        load_app("kind_app:number")


@pytest.mark.parametrize("spec", ["app", "app:", ":registry", ""])
def test_a_malformed_spec_shows_the_form(spec: str) -> None:
    with pytest.raises(AppNotFound, match="expected MODULE:ATTR"):
        load_app(spec)


def test_a_module_that_raises_gives_its_traceback(app_dir: Path) -> None:
    write(
        app_dir,
        "broken_app",
        "import actorscope\n\n\ndef helper():\n"
        "    raise RuntimeError('boom in helper')\n\n\nhelper()\n",
    )
    with pytest.raises(AppRaised) as info:
        load_app("broken_app:registry")
    assert "RuntimeError: boom in helper" in info.value.traceback
    assert "broken_app.py" in info.value.traceback and "helper()" in info.value.traceback


def test_a_module_importing_something_missing_is_a_raise_not_a_missing_module(
    app_dir: Path,
) -> None:
    write(app_dir, "needs_app", "import not_installed_anywhere\n")
    with pytest.raises(AppRaised) as info:
        load_app("needs_app:registry")
    assert "not_installed_anywhere" in info.value.traceback


def test_a_factory_that_raises_gives_its_traceback(app_dir: Path) -> None:
    write(app_dir, "factory_app", "def make():\n    raise ValueError('bad config')\n")
    with pytest.raises(AppRaised, match="calling factory_app:make raised ValueError") as info:
        load_app("factory_app:make")
    assert "bad config" in info.value.traceback


def test_as_registry_refuses_what_is_not_an_actor() -> None:
    with pytest.raises(TypeError, match="holds a str, not an actor"):
        as_registry([Actor("a"), "b"])
    with pytest.raises(TypeError, match="is a dict"):
        as_registry({"a": 1})


def test_actor_declarations_keywords_and_decorators() -> None:
    def schema(db: object) -> None:
        return None

    actor = Actor("shop", state={"n": 0}, actions={"a": lambda ctx: 1}, database=schema)

    @actor.action
    def b(ctx: object) -> int:
        return 2

    @actor.action("c-named")
    def c(ctx: object) -> int:
        return 3

    @actor.workflow
    async def run(wf: object, me: object) -> None:
        return None

    definition = actor.definition()
    assert isinstance(definition, ActorDefinition)
    assert sorted(definition.actions) == ["a", "b", "c-named"]
    assert definition.workflow is run and definition.database is schema
    assert definition.initial_state == {"n": 0}
    # Decorators hand the function back unchanged.
    assert b(None) == 2 and c(None) == 3


def test_a_registry_reads_an_actor_when_it_is_looked_up() -> None:
    actor = Actor("late")
    registry = Registry([actor])

    @actor.action
    def added_after(ctx: object) -> None:
        return None

    definition = registry.get("late")
    assert definition is not None and list(definition.actions) == ["added_after"]
    with pytest.raises(ValueError, match="already registered"):
        registry.add(Actor("late"))


def test_create_specs() -> None:
    assert parse_create("counter") == ("counter", "")
    assert parse_create("counter:mine") == ("counter", "mine")
    assert parse_create("counter:a:b") == ("counter", "a:b")
    with pytest.raises(ValueError, match="NAME or NAME:KEY"):
        parse_create(":x")
    assert Registry([Actor("c")], create=["c:k", ("c", "j")]).create == (("c", "k"), ("c", "j"))
