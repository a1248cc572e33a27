"""The one definition of well-formed input (`app.kit.inputs`): examples and properties."""

import contextlib
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from app.kit.inputs import (
    MAX_DIGITS,
    MAX_INT,
    MAX_JSON_DEPTH,
    MAX_SECONDS,
    MAX_TIME,
    MIN_TIME,
    Canonical,
    InvalidText,
    JsonTooDeep,
    MalformedJson,
    Timestamp,
    _check_tree,
    canonical_int,
    check_time,
    parse_json,
    time_from_seconds,
)

# No time limit per example: the box may be busy (another suite, two cores).
NO_DEADLINE = settings(deadline=None)

# ---------------------------------------------------------------------------- canonical_int

LAX = [
    True,
    False,
    1.0,
    1.5,
    float("inf"),
    None,
    [],
    {},
    "",
    " 1",
    "1 ",
    "+1",
    "01",
    "00",
    "-0",
    "1_000",
    "1e3",
    "0x10",
    "1.0",
    "²",  # str.isdigit() says yes, int() raises
    "-²",
    "１",  # fullwidth: int() says 1
    "١",  # Arabic-Indic: int() says 1
    "9" * 10_000,  # int() raises past 4,300 digits
]


@pytest.mark.parametrize("value", LAX, ids=repr)
def test_lax_integers_are_refused(value: object) -> None:
    with pytest.raises(ValueError):
        canonical_int(value)
    with pytest.raises(ValueError):
        canonical_int(value, -10, 10)


@pytest.mark.parametrize(
    ("value", "minimum", "maximum", "expected"),
    [
        (0, 0, MAX_INT, 0),
        ("0", 0, MAX_INT, 0),
        ("7", 1, 500, 7),
        (500, 1, 500, 500),
        (str(MAX_INT), 0, MAX_INT, MAX_INT),
        ("-5", -10, 10, -5),
        (-(2**31), -(2**31), 2**31 - 1, -(2**31)),
    ],
)
def test_canonical_integers_are_read(
    value: object, minimum: int, maximum: int, expected: int
) -> None:
    assert canonical_int(value, minimum, maximum) == expected


@pytest.mark.parametrize(
    ("value", "minimum", "maximum"),
    [(0, 1, 10), ("11", 1, 10), (MAX_INT + 1, 0, MAX_INT), ("-1", 0, 10), (-11, -10, 10)],
)
def test_out_of_range_is_refused(value: object, minimum: int, maximum: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        canonical_int(value, minimum, maximum)


@NO_DEADLINE
@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_every_integer_round_trips_through_its_decimal_text(n: int) -> None:
    signed = -MAX_INT if n < 0 else 0
    if signed <= n <= MAX_INT:
        assert canonical_int(str(n), signed, MAX_INT) == n
        assert canonical_int(n, signed, MAX_INT) == n
    else:
        with pytest.raises(ValueError):
            canonical_int(str(n), signed, MAX_INT)


@NO_DEADLINE
@given(st.text(max_size=50))
def test_any_text_is_read_only_if_it_is_the_canonical_form(text: str) -> None:
    try:
        n = canonical_int(text, -MAX_INT, MAX_INT)
    except ValueError:
        return
    assert str(n) == text  # nothing but the canonical spelling of n is ever accepted
    assert text.isascii()


@NO_DEADLINE
@given(st.text(alphabet="0123456789+- _.²１١\u00a0", min_size=1, max_size=MAX_DIGITS + 5))
def test_near_misses_never_raise_anything_but_value_error(text: str) -> None:
    try:
        n = canonical_int(text, -MAX_INT, MAX_INT)
    except ValueError:
        return
    assert str(n) == text


def test_canonical_schema_metadata_parses_and_documents_the_range() -> None:
    class Body(BaseModel):
        n: Annotated[int, Canonical(1, 500)]
        m: Annotated[int, Canonical(0)] | None = None

    assert Body(n="7").n == 7  # type: ignore[arg-type]
    assert Body.model_validate_json('{"n": 500, "m": 0}').m == 0
    for bad in ['{"n": "+7"}', '{"n": true}', '{"n": 7.0}', '{"n": 501}', '{"n": "٧"}']:
        with pytest.raises(ValidationError):
            Body.model_validate_json(bad)
    schema = Body.model_json_schema()["properties"]
    assert (schema["n"]["minimum"], schema["n"]["maximum"]) == (1, 500)
    assert schema["m"]["anyOf"][0]["maximum"] == MAX_INT


# ---------------------------------------------------------------------------- parse_json


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_parse_json_reads_clean_json() -> None:
    assert parse_json(b'{"a": [1, "x", {"b": null}], "nonce": 1}') == {
        "a": [1, "x", {"b": None}],
        "nonce": 1,
    }
    assert parse_json(nested(MAX_JSON_DEPTH)) == json.loads(nested(MAX_JSON_DEPTH))


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (nested(MAX_JSON_DEPTH + 1), JsonTooDeep),
        (nested(1000), JsonTooDeep),
        (nested(100_000), JsonTooDeep),  # json.loads: RecursionError
        ('{"a": "\\u0000"}', InvalidText),
        ('{"a": "\\ud800"}', InvalidText),  # a lone surrogate
        ('{"\\ud800": 1}', InvalidText),
        ('{"a": "x\\u0007"}', InvalidText),
        ("{", MalformedJson),
        (b"\xff\xfe", MalformedJson),
        ("1" * 10_000, MalformedJson),  # json.loads: past 4,300 digits
        ("", MalformedJson),
    ],
)
def test_parse_json_refuses_with_a_stable_code(raw: str | bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_json(raw)


def test_parse_json_refusals_are_4xx_with_distinct_codes() -> None:
    codes = set()
    for cls in (MalformedJson, JsonTooDeep, InvalidText):
        err = cls("x")
        assert 400 <= err.status_code < 500
        codes.add(err.code)
    assert codes == {"malformed_json", "json_too_deep", "invalid_text"}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=30,
)


@NO_DEADLINE
@given(json_values)
def test_parse_json_is_json_loads_or_a_refusal(value: Any) -> None:
    raw = json.dumps(value)
    try:
        parsed = parse_json(raw)
    except (JsonTooDeep, InvalidText):
        return  # deep, or text with a control character or lone surrogate
    assert parsed == json.loads(raw)


def _verdict(parse: Any, raw: Any) -> Any:
    try:
        return ("ok", parse(raw))
    except (MalformedJson, JsonTooDeep, InvalidText) as exc:
        return ("refused", exc.code)


def _walk_everything(raw: Any) -> Any:
    """parse_json without its shortcut: every string walked, every depth measured."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise JsonTooDeep("deep") from None
    except ValueError:
        raise MalformedJson("malformed") from None
    _check_tree(value)
    return value


def _encodings(value: Any) -> list[str | bytes]:
    """The same document as a client may send it: escaped or not, str, UTF-8, UTF-16."""
    out: list[str | bytes] = []
    for ascii_only in (True, False):
        text = json.dumps(value, ensure_ascii=ascii_only)
        out.append(text)
        for codec in ("utf-8", "utf-16", "utf-16-le", "utf-16-be", "utf-32-le"):
            with contextlib.suppress(UnicodeEncodeError):
                out.append(text.encode(codec))
    return out


@NO_DEADLINE
@given(json_values | st.lists(st.sampled_from(["\x00", "\ud800", "\x1f", "é", "a"])))
def test_the_shortcut_never_changes_a_verdict(value: Any) -> None:
    for raw in _encodings(value):
        assert _verdict(parse_json, raw) == _verdict(_walk_everything, raw), raw


@NO_DEADLINE
@given(st.binary(max_size=200))
def test_parse_json_of_any_bytes_raises_only_its_own_errors(raw: bytes) -> None:
    with contextlib.suppress(MalformedJson, JsonTooDeep, InvalidText):
        parse_json(raw)


@NO_DEADLINE
@given(st.integers(min_value=1, max_value=3000))
def test_any_depth_is_read_or_refused_as_too_deep(depth: int) -> None:
    if depth <= MAX_JSON_DEPTH:
        assert parse_json(nested(depth)) is not None
    else:
        with pytest.raises(JsonTooDeep):
            parse_json(nested(depth))


# ---------------------------------------------------------------------------- times


def test_times_within_range_are_read_as_utc() -> None:
    plus5 = timezone(timedelta(hours=5))
    assert check_time(datetime(2026, 1, 1, 5, tzinfo=plus5)) == datetime(2026, 1, 1, tzinfo=UTC)
    assert check_time(datetime(2026, 1, 1)) == datetime(2026, 1, 1, tzinfo=UTC)  # naive: UTC
    assert time_from_seconds(0) == MIN_TIME
    assert time_from_seconds(1_700_000_000.5).microsecond == 500_000


@pytest.mark.parametrize(
    "value",
    [
        datetime(1, 1, 1, tzinfo=timezone(timedelta(hours=5))),  # astimezone: OverflowError
        datetime(9999, 12, 31, 23, tzinfo=timezone(timedelta(hours=-5))),
        datetime.min,
        datetime.max,
        MAX_TIME,
        MIN_TIME - timedelta(microseconds=1),
    ],
)
def test_times_out_of_range_are_refused(value: datetime) -> None:
    with pytest.raises(ValueError, match="must lie between"):
        check_time(value)


@pytest.mark.parametrize("seconds", [-1, MAX_SECONDS, 10**20, float("inf"), float("nan")])
def test_seconds_out_of_range_are_refused(seconds: float) -> None:
    with pytest.raises(ValueError):
        time_from_seconds(seconds)


@NO_DEADLINE
@given(st.datetimes(timezones=st.timezones() | st.none()))
def test_any_time_is_read_in_range_or_refused(value: datetime) -> None:
    try:
        checked = check_time(value)
    except ValueError:
        return
    assert checked.tzinfo == UTC and MIN_TIME <= checked < MAX_TIME


@NO_DEADLINE
@given(st.floats() | st.integers())
def test_any_number_of_seconds_is_a_time_or_a_value_error(seconds: float) -> None:
    try:
        moment = time_from_seconds(seconds)
    except ValueError:
        return
    assert MIN_TIME <= moment < MAX_TIME


def test_timestamp_fields_refuse_out_of_range_and_document_a_max_length() -> None:
    class Query(BaseModel):
        at: Timestamp | None = None

    assert Query(at="2026-01-01T00:00:00+01:00").at == datetime(2025, 12, 31, 23, tzinfo=UTC)  # type: ignore[arg-type]
    for bad in [
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:00:00-05:00",
        "99999999999999999999",
        "1e400",
        "x" * 100,
        True,
    ]:
        with pytest.raises(ValidationError):
            Query(at=bad)  # type: ignore[arg-type]
    schema = Query.model_json_schema()["properties"]["at"]["anyOf"][0]
    assert schema["format"] == "date-time" and schema["maxLength"] > 0
