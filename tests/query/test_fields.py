"""Field names: what each refers to, paths into events, and the lookup that follows them."""

from __future__ import annotations

from typing import Any

import pytest

from lakehose.query.fields import (
    MISSING,
    FieldRef,
    UnknownFieldError,
    field_ref,
    lookup,
    split_path,
    top_keys,
)


@pytest.mark.parametrize(
    ("name", "ref"),
    [
        ("time", FieldRef("time", "time")),
        ("@timestamp", FieldRef("@timestamp", "timestamp")),
        ("ingest_time", FieldRef("ingest_time", "ingest_time")),
        ("offset", FieldRef("offset", "offset")),
        ("partition", FieldRef("partition", "partition")),
        ("host", FieldRef("host", "host")),
        ("source", FieldRef("source", "source")),
        ("@rawstring", FieldRef("@rawstring", "rawstring")),
        ("#connector", FieldRef("#connector", "tag", "#connector")),
        ("#sourcetype", FieldRef("#sourcetype", "tag", "#sourcetype")),
        # a custom tag is a HEC ``fields`` key that begins with "#", the shortest has one letter
        ("#env", FieldRef("#env", "fields", "#env")),
        ("#e", FieldRef("#e", "fields", "#e")),
        ("fields.env", FieldRef("fields.env", "fields", "env")),
        ("fields.a", FieldRef("fields.a", "fields", "a")),
        ("event.a", FieldRef("event.a", "event", "a", ("a",))),
        ("fields.a.b", FieldRef("fields.a.b", "fields", "a.b")),
        ("fields.", FieldRef("fields.", "bare", "fields.", ("fields",))),
        ("event.user.name", FieldRef("event.user.name", "event", "user.name", ("user", "name"))),
        ("event.", FieldRef("event.", "bare", "event.", ("event",))),
        ("event.a[2]", FieldRef("event.a[2]", "event", "a[2]", ("a", 2))),
        ("user", FieldRef("user", "bare", "user", ("user",))),
        ("a[0].b", FieldRef("a[0].b", "bare", "a[0].b", ("a", 0, "b"))),
        ("Host", FieldRef("Host", "bare", "Host", ("Host",))),
    ],
)
def test_what_a_name_refers_to(name: str, ref: FieldRef) -> None:
    assert field_ref(name) == ref


@pytest.mark.parametrize(("name", "message"), [
    ("#", "a tag needs a name; built-in tags are #connector, #index, #sourcetype"),
    ("@foo", "unknown field '@foo'; built-in fields are @rawstring, @timestamp"),
    ("@", "unknown field '@'; built-in fields are @rawstring, @timestamp"),
])  # fmt: skip
def test_unknown_built_in_fields(name: str, message: str) -> None:
    with pytest.raises(UnknownFieldError) as caught:
        field_ref(name)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("name", "per_batch"),
    [("#index", True), ("ingest_time", True), ("partition", True), ("time", False),
     ("offset", False), ("host", False), ("user", False), ("fields.x", False)],
)  # fmt: skip
def test_per_batch_fields(name: str, per_batch: bool) -> None:
    assert field_ref(name).per_batch is per_batch


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("user", ("user",)),
        ("user.name", ("user", "name")),
        ("a[0].b", ("a", 0, "b")),
        ("a[10][2]", ("a", 10, 2)),
        ("a..b", ("a", "b")),
        ("", ()),
    ],
)
def test_split_path(text: str, path: tuple[str | int, ...]) -> None:
    assert split_path(text) == path


@pytest.mark.parametrize(
    ("path", "keys"),
    [
        (("user",), ["user"]),
        (("user", "name"), ["user", "user.name"]),
        (("a", "b", "c"), ["a", "a.b", "a.b.c"]),
        (("a", 0, "b"), ["a"]),
        ((0, "a"), []),
        ((), []),
    ],
)
def test_top_keys(path: tuple[str | int, ...], keys: list[str]) -> None:
    assert top_keys(path) == keys


EVENT: dict[str, Any] = {
    "user": {"name": "ann", "ids": [5, {"k": "v"}]},
    "user.name": "flat",
    "a.b": {"c": 1},
    "a": {"b": {"d": 2}},
    "list": [10, 20, 30],
    "null": None,
    "x.y.z": 3,
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ((), EVENT),
        (("user", "name"), "flat"),  # the longest run of parts that is a key wins
        (("user", "ids", 0), 5),
        (("user", "ids", 1, "k"), "v"),
        (("user", "ids", 2), MISSING),
        (("user", "ids", -1), MISSING),
        (("a", "b", "c"), 1),
        (("a", "b", "d"), 2),  # "a.b" has no "d": the path through "a" then "b" is tried
        (("a", "b", "e"), MISSING),
        (("list", 0), 10),
        (("list", 2), 30),
        (("list", 3), MISSING),
        (("list", "0"), MISSING),
        (("null",), None),
        (("null", "x"), MISSING),
        (("x", "y", "z"), 3),
        (("x", "y"), MISSING),
        (("missing",), MISSING),
        (("user", "name", "first"), MISSING),
        ((0,), MISSING),
    ],
)
def test_lookup(path: tuple[str | int, ...], value: Any) -> None:
    assert lookup(EVENT, path) == value if value is not MISSING else lookup(EVENT, path) is MISSING


def test_lookup_into_lists_and_scalars() -> None:
    assert lookup([[1, 2], [3]], (0, 1)) == 2
    assert lookup([[1, 2], [3]], (1, 1)) is MISSING
    assert lookup("text", ("a",)) is MISSING
    assert lookup("text", (0,)) is MISSING
    assert lookup({"a.0": 1}, ("a", 0)) is MISSING  # an index is never part of a dotted key
    assert lookup({"a": {"0": 1}}, ("a", 0)) is MISSING


def test_missing_is_falsy_and_shows_its_name() -> None:
    assert not MISSING and repr(MISSING) == "MISSING" and MISSING is not None


def test_a_field_ref_is_an_immutable_hashable_value() -> None:
    """Plans key their per-field readers by reference."""
    import dataclasses

    ref = field_ref("event.a")
    assert {ref, field_ref("event.a")} == {ref}
    with pytest.raises(dataclasses.FrozenInstanceError):
        ref.kind = "bare"  # type: ignore[misc]
