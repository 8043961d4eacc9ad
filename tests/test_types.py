"""Conversion of request values per field type (docs/api.md §6) and rows on the wire."""

import pytest

from saltapi.store.metadata import Field
from saltapi.store.types import InvalidValue, convert, parse_value, to_json


def field(type_name: str, **attributes) -> Field:
    return Field(name="f", label="F", type=type_name, attributes=attributes)


@pytest.mark.parametrize(
    "type_name, value, stored",
    [
        ("String", "", ""),
        ("String", " x ", " x "),
        ("Integer", 12, 12),
        ("Integer", 12.0, 12),
        ("Integer", " 12 ", 12),
        ("Integer", "-7", -7),
        ("Integer", 2**63 - 1, 2**63 - 1),
        ("Integer", -(2**63), -(2**63)),
        ("Float", 1, 1.0),
        ("Float", "2.5", 2.5),
        ("Float", " -1e3 ", -1000.0),
        ("Bool", True, True),
        ("Bool", False, False),
        ("Bool", 1, True),
        ("Bool", "on", True),
        ("Bool", "YES", True),
        ("Bool", "t", True),
        ("Bool", "off", False),
        ("Bool", "0", False),
        ("Bool", "F", False),
        ("Date", "2024-02-29", "2024-02-29"),
        ("Date", "2024-02-29T10:00:00Z", "2024-02-29T10:00:00.000Z"),
        ("Date", "2024-02-29T10:00:00.123456+02:00", "2024-02-29T08:00:00.123Z"),
        ("Date", "2024-02-29 23:30", "2024-02-29T23:30:00.000Z"),
        ("Key", 3, 3),
        ("Key", "3", 3),
        ("Key", {"id": 3}, 3),
        ("Key", "", None),
        ("Key", None, None),
    ],
)
def test_values_convert(type_name, value, stored):
    result = convert(field(type_name), value)
    assert result == stored and type(result) is type(stored)


@pytest.mark.parametrize(
    "type_name, value, message",
    [
        ("String", 1, "Must be a string"),
        ("String", ["x"], "Must be a string"),
        ("Integer", 12.7, "Must be an integer"),
        ("Integer", "12.0", "Must be an integer"),
        ("Integer", "1_000", "Must be an integer"),
        ("Integer", "", "Must be an integer"),
        ("Integer", 2**63, "Must be an integer"),
        ("Integer", True, "Must be an integer"),
        ("Integer", float("nan"), "Must be an integer"),
        ("Float", "nan", "Must be a number"),
        ("Float", "inf", "Must be a number"),
        ("Float", "1_0", "Must be a number"),
        ("Float", False, "Must be a number"),
        ("Float", 10**400, "Must be a number"),
        ("Bool", 2, "Must be true or false"),
        ("Bool", "maybe", "Must be true or false"),
        ("Bool", [], "Must be true or false"),
        ("Date", "yesterday", "Must be a date"),
        ("Date", 20240101, "Must be a date"),
        ("Date", "2023-02-29", "Must be a date"),
        ("Key", "x", "Must be an integer id"),
        ("Key", {"id": "x"}, "Must be an integer id"),
        ("Key", {"id": 1, "name": "x"}, "Must be an integer id"),
        ("Key", 1.5, "Must be an integer id"),
    ],
)
def test_values_refused(type_name, value, message):
    with pytest.raises(InvalidValue, match=f"^{message}$"):
        convert(field(type_name), value)


@pytest.mark.parametrize(
    "checked, value, message",
    [
        (field("Integer", min=0), -1, "Must be 0 or higher"),
        (field("Integer", max=10), 11, "Must be 10 or less"),
        (field("Float", min=0.5), 0.4, "Must be 0.5 or higher"),
        (field("String", min_length=2), "a", "Must be at least 2 characters"),
        (field("String", max_length=2), "abc", "Must be at most 2 characters"),
        (field("String", options=["a", "b"]), "c", "Must be one of: a, b"),
        (field("String", options="a, b"), "c", "Must be one of: a, b"),
    ],
)
def test_attributes_refuse(checked, value, message):
    with pytest.raises(InvalidValue, match=f"^{message}$"):
        parse_value(checked, value)


def test_attributes_accept_their_bounds():
    assert parse_value(field("Integer", min=0, max=10), 10) == 10
    assert parse_value(field("String", max_length=2, options="ab,cd"), "ab") == "ab"


def test_bools_leave_as_json_booleans():
    assert (to_json(field("Bool"), 1), to_json(field("Bool"), 0), to_json(field("Bool"), None)) == (True, False, None)


@pytest.mark.parametrize(
    "value, stored",
    [("0999-01-01T10:00:00", "0999-01-01T10:00:00.000Z"), ("0001-01-01", "0001-01-01"), ("9999-12-31T23:59:59.9999+00:00", "9999-12-31T23:59:59.999Z")],
)
def test_dates_keep_four_digit_years(value, stored):
    assert convert(field("Date"), value) == stored
