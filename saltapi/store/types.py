"""Saltcorn's field types: reading values from requests, writing rows as JSON (each engine has its column types)."""

import datetime
import math
import re
from collections.abc import Callable

from .metadata import Field

FIELD_TYPES = ("String", "Integer", "Float", "Bool", "Date", "Key")  # each engine has its column types
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

INTEGER_TEXT = re.compile(r"\s*[+-]?\d+\s*", re.ASCII)
NUMBER_TEXT = re.compile(r"\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?\s*", re.ASCII)
TRUE_TEXTS = {"true", "t", "on", "yes", "1"}
FALSE_TEXTS = {"false", "f", "off", "no", "0"}


class InvalidValue(ValueError):
    """A value that does not fit its field; the message is what follows `<field>: ` on the wire."""


def to_integer(value, message: str = "Must be an integer") -> int:
    """An integer, an integral float, or a string of one, within signed 64 bits."""
    if isinstance(value, bool):
        raise InvalidValue(message)
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    elif isinstance(value, str) and INTEGER_TEXT.fullmatch(value):
        value = int(value)
    if not isinstance(value, int) or not INT64_MIN <= value <= INT64_MAX:
        raise InvalidValue(message)
    return value


def to_float(value) -> float:
    if isinstance(value, str) and NUMBER_TEXT.fullmatch(value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValue("Must be a number")
    # Huge integers overflow to inf; neither they nor NaN can be stored faithfully.
    try:
        value = float(value)
    except OverflowError:
        raise InvalidValue("Must be a number") from None
    if not math.isfinite(value):
        raise InvalidValue("Must be a number")
    return value


def to_bool(value) -> bool:
    """SQLite stores it as 0/1, PostgreSQL as a boolean; the JSON writer turns either into false/true."""
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in TRUE_TEXTS:
            return True
        if text in FALSE_TEXTS:
            return False
    raise InvalidValue("Must be true or false")


def to_date(value) -> str:
    """A bare date stays `YYYY-MM-DD`; a date-time becomes UTC `YYYY-MM-DDTHH:MM:SS.sssZ` (naive = UTC)."""
    if not isinstance(value, str):
        raise InvalidValue("Must be a date")
    text = value.strip()
    try:
        return datetime.date.fromisoformat(text).isoformat()
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text)
        if moment.tzinfo is not None:
            moment = moment.astimezone(datetime.UTC)
    except (ValueError, OverflowError):
        raise InvalidValue("Must be a date") from None
    return moment.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


def to_key(value) -> int | None:
    """A referenced id: an integer, a string of one, or {"id": n}; null and "" mean no reference."""
    if isinstance(value, dict) and set(value) == {"id"}:
        value = value["id"]
    if value is None or value == "":
        return None
    return to_integer(value, "Must be an integer id")


def to_string(value) -> str:
    if not isinstance(value, str):
        raise InvalidValue("Must be a string")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates from a JSON \ud800 escape
        raise InvalidValue("Must be a string") from None
    if "\0" in value:  # PostgreSQL's text cannot hold it; refused on SQLite too, so every instance can move
        raise InvalidValue("Must not contain NUL characters")
    return value


CONVERTERS: dict[str, Callable] = {
    "String": to_string,
    "Integer": to_integer,
    "Float": to_float,
    "Bool": to_bool,
    "Date": to_date,
    "Key": to_key,
}


def format_number(number) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


def options_of(field: Field) -> list[str] | None:
    """A String field's allowed values; Saltcorn keeps them as a list or as one comma-separated string."""
    options = field.attributes.get("options")
    if isinstance(options, str):
        options = [option.strip() for option in options.split(",") if option.strip()]
    return options or None


def check_attribute_limits(field: Field, value) -> None:
    """:raises InvalidValue: when the value breaks one of the field's attributes."""
    attributes = field.attributes
    if field.type in ("Integer", "Float"):
        if attributes.get("min") is not None and value < attributes["min"]:
            raise InvalidValue(f"Must be {format_number(attributes['min'])} or higher")
        if attributes.get("max") is not None and value > attributes["max"]:
            raise InvalidValue(f"Must be {format_number(attributes['max'])} or less")
    elif field.type == "String":
        if attributes.get("min_length") is not None and len(value) < attributes["min_length"]:
            raise InvalidValue(f"Must be at least {attributes['min_length']} characters")
        if attributes.get("max_length") is not None and len(value) > attributes["max_length"]:
            raise InvalidValue(f"Must be at most {attributes['max_length']} characters")
        options = options_of(field)
        if options is not None and value not in options:
            raise InvalidValue(f"Must be one of: {', '.join(options)}")


def convert(field: Field, value):
    """The stored form of a value for `field` (type only, no attributes).

    :raises InvalidValue: when it cannot be converted.
    """
    if value is None:
        return None
    return CONVERTERS[field.type](value)


def parse_value(field: Field, value):
    """Convert a value from a request body and check the field's attributes; None stays None.

    :raises InvalidValue: with the message of the first rule it breaks.
    """
    stored = convert(field, value)
    if stored is not None:
        check_attribute_limits(field, stored)
    return stored


def bool_to_json(value: int | bool | None) -> bool | None:
    return None if value is None else bool(value)


def to_json(field: Field, value):
    """A stored value as it appears in a row on the wire."""
    return bool_to_json(value) if field.type == "Bool" else value
