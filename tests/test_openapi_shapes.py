"""Every input either surface documents has a shape: strings a maxLength (or a closed set of
values), integers a minimum and a maximum, arrays a maxItems. A new route or field that
forgets one fails here, before a fuzzer or a client finds what it lets through."""

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI

from app.config import Settings
from app.main import create_app


def _walk(
    spec: dict[str, Any], schema: dict[str, Any], where: str, seen: frozenset[str]
) -> Iterator[str]:
    """Every shortcoming of `schema` (and of what it contains), as a line naming where."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        if name not in seen:
            yield from _walk(
                spec, spec["components"]["schemas"][name], f"{where}<{name}>", seen | {name}
            )
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            yield from _walk(spec, sub, where, seen)
    kind = schema.get("type")
    closed = "enum" in schema or "const" in schema
    if kind == "string" and not closed and "maxLength" not in schema:
        yield f"{where}: a string without maxLength: {schema}"
    if kind == "integer" and ("minimum" not in schema or "maximum" not in schema):
        yield f"{where}: an integer without minimum and maximum: {schema}"
    if kind == "number":
        yield f"{where}: a float (money and parameters are integers): {schema}"
    if kind == "array":
        if "maxItems" not in schema:
            yield f"{where}: an array without maxItems"
        yield from _walk(spec, schema.get("items", {}), f"{where}[]", seen)
    if kind == "object" or "properties" in schema:
        for name, sub in schema.get("properties", {}).items():
            yield from _walk(spec, sub, f"{where}.{name}", seen)
        extra = schema.get("additionalProperties")
        if isinstance(extra, dict):
            yield from _walk(spec, extra, f"{where}.*", seen)
    if (
        not kind
        and not closed
        and not any(k in schema for k in ("anyOf", "oneOf", "allOf", "$ref", "properties"))
    ):
        yield f"{where}: no type at all (anything goes): {schema}"


def request_shortcomings(app: FastAPI) -> list[str]:
    spec = app.openapi()
    out: list[str] = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            for p in op.get("parameters", []):
                where = f"{method.upper()} {path} {p['in']} {p['name']}"
                out += _walk(spec, p["schema"], where, frozenset())
            for media, content in op.get("requestBody", {}).get("content", {}).items():
                out += _walk(
                    spec, content["schema"], f"{method.upper()} {path} body {media}", frozenset()
                )
    return out


def test_every_request_input_is_bounded(settings: Settings) -> None:
    app = create_app(settings)
    problems = request_shortcomings(app)
    assert not problems, "\n".join(problems)


def test_the_check_sees_what_it_must() -> None:
    """The walker itself: it finds each kind of shortcoming, through refs and unions."""
    bad = FastAPI()

    from pydantic import BaseModel

    class Item(BaseModel):
        name: str
        count: int
        ratio: float
        tags: list[str]

    @bad.post("/items/{item_id}")
    async def create(item_id: int, body: Item, q: str | None = None) -> None: ...

    found = "\n".join(request_shortcomings(bad))
    for needle in (
        "path item_id",
        "query q",
        "<Item>.name",
        "<Item>.count",
        "<Item>.ratio",
        "<Item>.tags: an array",
    ):
        assert needle in found, needle
