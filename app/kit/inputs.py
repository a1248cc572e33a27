"""What a well-formed input is, said once for every route of both surfaces.

Two layers, each applied once:

- **Characters and structure**, checked by `app.kit.http.RequestContextMiddleware` on every
  HTTP request before any route sees it (and by the WebSocket handlers on every message):
  the path, the query string and a form or JSON body are valid UTF-8 with no NUL, no other
  C0 control character (tab, line feed and carriage return are allowed) and no lone
  surrogate (JSON's `"\\ud800"`); a JSON body is nested at most `MAX_JSON_DEPTH` deep.
  Nothing that fails reaches a route, a commit group or Postgres.
- **Shapes**, checked by the schema types below: integers are JSON integers or canonical
  ASCII digits (`"0"` or no leading zero: no sign, no space, no `_`, no `true`, no `"²"`
  or other Unicode digits) within a range (`Canonical`); times lie within
  [`MIN_TIME`, `MAX_TIME`) (`Timestamp`, `time_from_seconds`); every string has a
  `max_length`; enums are `Literal`s.
"""

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import parse_qsl

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from app.kit.errors import BadRequest
from app.kit.units import MAX_AMOUNT

MAX_INT = MAX_AMOUNT  # Postgres BIGINT, every id, amount and nonce
MAX_JSON_DEPTH = 32
MAX_DIGITS = 40  # longer digit strings are refused before int() sees them

_CANONICAL = re.compile(r"0|[1-9][0-9]*")
_CANONICAL_SIGNED = re.compile(r"0|-?[1-9][0-9]*")
# C0 controls but tab, LF, CR.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class MalformedJson(BadRequest):
    code = "malformed_json"


class JsonTooDeep(BadRequest):
    code = "json_too_deep"


class InvalidText(BadRequest):
    code = "invalid_text"


# ---------------------------------------------------------------------------- characters


def text_problem(value: str) -> str | None:
    """Why `value` may not enter the service, or None if it may."""
    if _CONTROL.search(value):
        return "contains a NUL or control character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not valid Unicode)"
    return None


def check_text(value: str, where: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise InvalidText(f"{where} {problem}", details={"field": where})
    return value


def parse_json(raw: bytes | str) -> Any:
    """A JSON document whose every key and string is clean text, nested at most
    `MAX_JSON_DEPTH` deep. Raises MalformedJson, JsonTooDeep or InvalidText."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JsonTooDeep(f"JSON nested more than {MAX_JSON_DEPTH} deep") from None
    except ValueError:  # JSONDecodeError and UnicodeDecodeError (invalid UTF-8)
        raise MalformedJson("request body is not valid JSON") from None
    if not _may_be_unclean(raw):
        return value
    _check_tree(value)
    return value


def _may_be_unclean(raw: bytes | str) -> bool:
    """False when the parsed document cannot break a rule, seen from its text alone (most
    bodies: the walk over every string costs more than the parse). In ASCII text without a
    NUL (no surrogate; not UTF-16 or -32, which `json.loads` would detect), JSON refuses raw
    control characters in strings, so a bad character can only come from a `\\u` escape; and a
    document cannot nest deeper than its number of brackets."""
    if isinstance(raw, str):
        escape, brackets = "\\u" in raw, raw.count("{") + raw.count("[")
    else:
        escape = b"\\u" in raw or b"\x00" in raw
        brackets = raw.count(b"{") + raw.count(b"[")
    return not raw.isascii() or escape or brackets > MAX_JSON_DEPTH


def _check_tree(root: Any) -> None:
    stack: list[tuple[Any, int]] = [(root, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            check_text(value, "a JSON string")
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise JsonTooDeep(f"JSON nested more than {MAX_JSON_DEPTH} deep")
            if isinstance(value, dict):
                for key, item in value.items():
                    check_text(key, "a JSON key")
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def check_form(raw: bytes, where: str) -> list[tuple[str, str]]:
    """A query string or form body: valid UTF-8 once percent-decoded, clean text."""
    try:
        text = raw.decode("ascii")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise InvalidText(f"the {where} is not valid percent-encoded UTF-8") from None
    for key, value in pairs:
        check_text(key, f"a {where} name")
        check_text(value, f"{where} parameter {key[:64]!r}")
    return pairs


# ---------------------------------------------------------------------------- integers


def canonical_int(value: object, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """A JSON integer (not a boolean, not a float) or a string of ASCII digits in canonical
    form, within [minimum, maximum]. Raises ValueError with a message for the client."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError("must be an integer (a JSON integer or a string of digits)")
    if isinstance(value, str):
        pattern = _CANONICAL_SIGNED if minimum < 0 else _CANONICAL
        if len(value) > MAX_DIGITS or not pattern.fullmatch(value):
            raise ValueError(
                "must be an integer written in ASCII digits with no sign, space or leading zero"
            )
        value = int(value)
    if value < minimum or value > maximum:
        raise ValueError(f"must be between {minimum} and {maximum}")
    return value


@dataclass(frozen=True, slots=True)
class Canonical:
    """Schema metadata for a canonical integer in [minimum, maximum]:
    `tick_size: Annotated[int, Canonical(1)]`, also for query and path parameters."""

    minimum: int = 0
    maximum: int = MAX_INT

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            self.parse, core_schema.int_schema(ge=self.minimum, le=self.maximum)
        )

    def parse(self, value: object) -> int:
        return canonical_int(value, self.minimum, self.maximum)


PositiveInt = Annotated[int, Canonical(1)]
NonNegativeInt = Annotated[int, Canonical(0)]


# ---------------------------------------------------------------------------- times

# Every time a client may send: from the Unix epoch to well before the end of Python's (and
# far before Postgres') calendar, so that adding a day or a few hundred intervals, or moving
# to another offset, never overflows.
MIN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_TIME = datetime(9000, 1, 1, tzinfo=UTC)
MAX_SECONDS = int((MAX_TIME - MIN_TIME).total_seconds())
MAX_TIME_TEXT = 64  # an ISO 8601 time or unix seconds, as text


def check_time(value: datetime) -> datetime:
    """`value` as an aware UTC time (naive means UTC) if it lies in [MIN_TIME, MAX_TIME);
    raises ValueError with a message for the client otherwise."""
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    # Comparing aware times never overflows; converting one near year 1 or 9999 may.
    if not MIN_TIME <= aware < MAX_TIME:
        raise ValueError(
            f"must lie between {MIN_TIME.isoformat()} and {MAX_TIME.isoformat()} (exclusive)"
        )
    return aware.astimezone(UTC)


def time_from_seconds(seconds: int | float | Decimal) -> datetime:
    """Unix seconds -> an aware UTC time, within the range of `check_time` (ValueError)."""
    if not 0 <= seconds < MAX_SECONDS:
        raise ValueError(f"must be unix seconds between 0 and {MAX_SECONDS} (exclusive)")
    return datetime.fromtimestamp(float(seconds), UTC)


def _short_time(value: object) -> object:
    if isinstance(value, str) and len(value) > MAX_TIME_TEXT:
        raise ValueError(f"must be at most {MAX_TIME_TEXT} characters")
    if isinstance(value, bool):
        raise ValueError("must be an ISO 8601 time or unix seconds")
    return value


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Schema metadata for a time within [MIN_TIME, MAX_TIME), normalised to UTC:
    `Annotated[datetime, TimeRange()]` (see `Timestamp`)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_before_validator_function(
            _short_time, core_schema.no_info_after_validator_function(check_time, handler(source))
        )

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler.resolve_ref_schema(handler(schema))
        json_schema["maxLength"] = MAX_TIME_TEXT
        return json_schema


Timestamp = Annotated[datetime, TimeRange()]
