"""The error answers in `/openapi.json`: every operation documents the statuses it can
answer with, their media type and body, and the stable codes of each status.

FastAPI documents only success answers (and a 422 of its own shape, which this service never
sends). What the service really answers, per operation:
- every native operation, from the request middleware before any route runs (`app.kit.http`):
  400 (`invalid_text`, `json_too_deep`, `malformed_json`), 413, 415, 429
  (`too_many_in_flight`), and 503 (a database, sequencer or chain that cannot serve now);
- with parameters or a body: 422 `validation_error` (naming the field);
- signed (an `app.auth.dependencies` principal): 401 and 403, 400 (`unsigned_parameters`,
  `non_canonical_path`, `unexpected_body`), 429 (`rate_limited`); and what the caller's own
  records can refuse: 404 and 409;
- with a path parameter or a query parameter naming a market, symbol, asset or audit: 404;
- any status a route declares itself (`responses={404: {"description": ...}}`): its problem
  answer, unless the route gives that answer a body of its own (`/ready`'s 503);
- the Kraken surface (`/0/`): HTTP 200 with Kraken's envelope for every error, except 503
  (`EService:Unavailable`, with `Retry-After`).
Every native error body is `application/problem+json` (`Problem`); each status's response
(`components/responses/Problem<status>`) lists the codes the service has for it
(`app.kit.errors.all_codes`). `tests/fuzz/` runs Schemathesis' `status_code_conformance` and
`content_type_conformance` checks against a real server to keep this true.
"""

from collections.abc import Callable, Iterator
from typing import Any

from fastapi import FastAPI, routing
from fastapi.dependencies.models import Dependant

from app.kit.errors import all_codes

PROBLEM_JSON = "application/problem+json"
# Statuses of errors the middleware may answer on any request, before a route runs.
ANY_REQUEST = (400, 413, 415, 429, 503)
SIGNED = (400, 401, 403, 404, 409, 429)
WITH_INPUT = (422,)
NAMING_QUERY = frozenset({"market", "symbol", "asset", "audit_id"})
# Codes the HTTP layer answers without an error class of their own.
HTTP_CODES = {400: ["malformed_json"], 404: ["not_found"], 405: ["method_not_allowed"]}
TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Not permitted",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid parameter or field",
    429: "Too many requests (`Retry-After`)",
    503: "Unavailable for now, nothing was done (`Retry-After`)",
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "An error: `code` is stable (clients switch on it), `message` is for humans.",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "string", "maxLength": 64, "description": "the stable error code"},
        "message": {"type": "string", "maxLength": 2000},
        "request_id": {"type": "string", "maxLength": 128},
        "details": {"type": "object", "description": "e.g. `retry_after` (seconds)"},
        "errors": {
            "type": "array",
            "maxItems": 1000,
            "description": "422: every invalid field",
            "items": {
                "type": "object",
                "properties": {
                    "field": {"type": "string", "maxLength": 1000},
                    "message": {"type": "string", "maxLength": 2000},
                },
            },
        },
    },
}
KRAKEN_UNAVAILABLE: dict[str, Any] = {
    "description": "`EService:Unavailable` in Kraken's envelope (`Retry-After`): a dependency "
    "is down, nothing was done. Every other error is answered HTTP 200 in the envelope.",
    "content": {
        "application/json": {
            "schema": {
                "type": "object",
                "required": ["error"],
                "properties": {
                    "error": {
                        "type": "array",
                        "maxItems": 16,
                        "items": {"type": "string", "maxLength": 200},
                    }
                },
            }
        }
    },
}


def codes_by_status() -> dict[int, list[str]]:
    out: dict[int, set[str]] = {}
    for code, cls in all_codes().items():
        out.setdefault(cls.status_code, set()).add(code)
    for status, codes in HTTP_CODES.items():
        out.setdefault(status, set()).update(codes)
    return {status: sorted(codes) for status, codes in out.items()}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    todo = [dependant]
    while todo:
        dependant = todo.pop()
        if dependant.call is not None:
            yield dependant.call
        todo.extend(dependant.dependencies)


def is_signed(dependant: Dependant) -> bool:
    """Whether a route authenticates its caller (an `app.auth.dependencies` principal)."""
    for call in _calls(dependant):
        name = getattr(call, "__qualname__", "")
        if getattr(call, "__module__", "") == "app.auth.dependencies" and (
            name == "authenticated" or name.startswith(("require.", "require_recording_nonce."))
        ):
            return True
    return False


def error_statuses(dependant: Dependant, operation: dict[str, Any]) -> set[int]:
    """The error statuses a native operation can answer with (see the module's docstring)."""
    statuses = set(ANY_REQUEST)
    parameters = operation.get("parameters", [])
    if parameters or "requestBody" in operation:
        statuses.update(WITH_INPUT)
    if is_signed(dependant):
        statuses.update(SIGNED)
    if any(p["in"] == "path" for p in parameters) or any(
        p["in"] == "query" and p["name"] in NAMING_QUERY for p in parameters
    ):
        statuses.add(404)
    return statuses


def document_errors(app: FastAPI, spec: dict[str, Any]) -> dict[str, Any]:
    """Add the error answers to `spec` (FastAPI's generated schema of `app`), in place."""
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas["Problem"] = PROBLEM_SCHEMA
    codes = codes_by_status()
    responses = components.setdefault("responses", {})
    for status, title in TITLES.items():
        listed = ", ".join(f"`{c}`" for c in codes.get(status, []))
        responses[f"Problem{status}"] = {
            "description": f"{title}. Codes: {listed}.",
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
    dependants = {
        (context.path_format, method.lower()): context.dependant
        for context in routing.iter_route_contexts(app.routes)
        if isinstance(context.original_route, routing.APIRoute)
        for method in context.methods or ()
    }
    for path, item in spec.get("paths", {}).items():
        for method, operation in item.items():
            answers = operation.setdefault("responses", {})
            answers.pop("422", None)  # FastAPI's own shape, never sent
            if path.startswith("/0/"):
                answers["503"] = KRAKEN_UNAVAILABLE
                continue
            dependant = dependants[(path, method)]  # every operation comes from a route
            declared = {int(s) for s in answers if s.isdigit() and int(s) >= 400}
            for status in sorted(error_statuses(dependant, operation) | declared):
                if answers.get(str(status), {}).get("content"):
                    continue  # the route documents an answer of its own (`/ready`'s 503)
                answers[str(status)] = {"$ref": f"#/components/responses/Problem{status}"}
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    return spec


def install(app: FastAPI) -> None:
    """`app.openapi()` answers the generated schema with the error answers documented."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = document_errors(app, generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
