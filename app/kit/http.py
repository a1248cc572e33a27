"""HTTP plumbing: error bodies, request ids, body size limit, access logs and metrics."""

import asyncio
import logging
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.kit import metrics
from app.kit.dberrors import classify
from app.kit.errors import (
    AppError,
    BadRequest,
    InternalError,
    PayloadTooLarge,
    TooManyInFlight,
    UnsupportedMediaType,
)
from app.kit.inputs import check_form, check_text, parse_json
from app.kit.logging import request_id_var
from app.kit.ratelimit import TokenBucketLimiter

log = logging.getLogger("app.http")

PROBLEM_JSON = "application/problem+json"
MAX_TARPIT_SECONDS = 1.0


def error_response(
    status: int,
    code: str,
    message: str,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, **extra}
    rid = request_id_var.get()
    if rid:
        body["request_id"] = rid
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def _field_name(loc: Sequence[Any]) -> str:
    # ("body", "amount") -> "amount"; ("query", "limit") -> "limit"
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


async def _app_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    extra = {"details": exc.details} if exc.details else {}
    return error_response(exc.status_code, exc.code, exc.message, _retry_headers(exc), **extra)


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_name(e.get("loc", ())), "message": e.get("msg", "invalid")}
        for e in exc.errors()
    ]
    if any(e.get("type") == "json_invalid" for e in exc.errors()):
        return error_response(400, "malformed_json", "request body is not valid JSON")
    first = errors[0] if errors else {"field": "body", "message": "invalid"}
    return error_response(
        422, "validation_error", f"{first['field']}: {first['message']}", errors=errors
    )


async def _http_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    codes = {404: "not_found", 405: "method_not_allowed"}
    code = codes.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), exc.headers)


async def _unhandled(_: Request, exc: Exception) -> JSONResponse:
    error = classify(exc)
    if error is not None:
        return error_response(error.status_code, error.code, error.message, _retry_headers(error))
    log.exception("unhandled error", exc_info=exc)
    internal = InternalError("internal server error")
    return error_response(internal.status_code, internal.code, internal.message)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, _app_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unhandled)


# Renders an error the middleware answers itself (before any route ran), for one surface.
ErrorRenderer = Callable[[int, str, str, Mapping[str, str] | None], Response]


def native_error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None
) -> Response:
    return error_response(status, code, message, headers)


class RequestContextMiddleware:
    """Pure ASGI middleware: request id, body size limit, input hygiene, in-flight limits,
    access log and metrics.

    Every request's path, query string and form or JSON body are checked here, once, as
    `app.kit.inputs` says, before any route runs. `renderers` maps a path prefix to the
    error format of its surface (Kraken's envelope under `/0/`); others get problem+json.
    In-flight limits: at most `max_inflight_per_client` concurrent requests per client
    address and `max_inflight_per_key` per API key (0: no limit); beyond, 429 at once.
    Refusals (every 4xx, and every input refused here whatever the surface) cost a client
    that sends them faster than `refusal_rate` per second on one connection (ten times that
    per client address): its refusals are then answered late (a tarpit, at most
    `MAX_TARPIT_SECONDS`), so a client flooding bad requests slows itself, not the others.
    Answers that are not refusals are never delayed.

    Pure ASGI (not BaseHTTPMiddleware) so it adds little to every request's latency.
    """

    def __init__(
        self,
        app: ASGIApp,
        max_body_bytes: int,
        renderers: Mapping[str, ErrorRenderer] | None = None,
        max_inflight_per_client: int = 0,
        max_inflight_per_key: int = 0,
        refusal_rate: float = 0.0,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.renderers = dict(renderers or {})
        self.per_client = InflightLimiter(max_inflight_per_client)
        self.per_key = InflightLimiter(max_inflight_per_key)
        self.refusals: tuple[TokenBucketLimiter, TokenBucketLimiter] | None = None
        if refusal_rate > 0:
            burst = max(1, int(2 * refusal_rate))
            self.refusals = (
                TokenBucketLimiter(refusal_rate, burst),  # per connection
                TokenBucketLimiter(10 * refusal_rate, 10 * burst),  # per client address
            )

    async def _tarpit(self, connection: Any, address: str) -> None:
        if self.refusals is None:
            return
        per_connection, per_address = self.refusals
        delay = max(
            per_connection.charge(connection, MAX_TARPIT_SECONDS),
            per_address.charge(address, MAX_TARPIT_SECONDS),
        )
        if delay > 0:
            metrics.TARPITTED.inc()
            await asyncio.sleep(delay)

    def _renderer(self, path: str) -> ErrorRenderer:
        for prefix, renderer in self.renderers.items():
            if path.startswith(prefix):
                return renderer
        return native_error

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        rid = headers.get(b"x-request-id", b"").decode("latin-1")[:64] or os.urandom(16).hex()
        token = request_id_var.set(rid)
        start = time.perf_counter()
        status = 500

        started = refused = False
        client = scope.get("client")
        client_id = str(client[0]) if client else ""

        async def send_with_id(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                started = True
                status = message["status"]
                if refused or 400 <= status < 500:
                    await self._tarpit(client, client_id)
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        key_id = headers.get(b"api-key", b"")[:128]
        entered: list[InflightLimiter] = []
        try:
            for limiter, ident in ((self.per_client, client_id), (self.per_key, key_id)):
                if ident and not limiter.enter(ident):
                    raise TooManyInFlight(
                        "too many requests in flight; wait for answers before sending more",
                        retry_after=1,
                    )
                entered.append(limiter)
            body = await self._read_body(scope, receive, headers)
            _check_input(scope, headers, body or b"")
            await self.app(scope, _replay(body, receive), send_with_id)
        except _Disconnected:
            status = 499  # the client closed the connection before sending its body
        except Exception as exc:
            if started:
                raise
            error = exc if isinstance(exc, AppError) else classify(exc)
            if error is None:
                log.exception("unhandled error", exc_info=exc)
                error = InternalError("internal server error")
            refused = error.status_code < 500
            render = self._renderer(str(scope.get("path", "")))
            response = render(error.status_code, error.code, error.message, _retry_headers(error))
            await response(scope, receive, send_with_id)
        finally:
            for limiter, ident in zip(
                (self.per_client, self.per_key), (client_id, key_id), strict=False
            ):
                if limiter in entered:
                    limiter.leave(ident)
            self._record(scope, status, start)
            request_id_var.reset(token)

    async def _read_body(
        self, scope: Scope, receive: Receive, headers: dict[bytes, bytes]
    ) -> bytes | None:
        """The whole body (None if the request has none), within the size limit."""
        declared = headers.get(b"content-length")
        if declared is None and b"transfer-encoding" not in headers:
            return None
        if declared is not None and (not declared.isdigit() or len(declared) > 12):
            raise BadRequest("Content-Length is not a number")
        if declared is not None and int(declared) > self.max_body_bytes:
            raise PayloadTooLarge(
                f"request body exceeds {self.max_body_bytes} bytes",
                details={"max_bytes": self.max_body_bytes},
            )
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                raise PayloadTooLarge(
                    f"request body exceeds {self.max_body_bytes} bytes",
                    details={"max_bytes": self.max_body_bytes},
                )
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)

    @staticmethod
    def _record(scope: Scope, status: int, start: float) -> None:
        elapsed = time.perf_counter() - start
        route = scope.get("route")
        path = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "GET")
        metrics.observe_request(method, path, status, elapsed)
        log.info(
            "request",
            extra={
                "method": method,
                "path": scope.get("path"),
                "route": path,
                "status": status,
                "ms": round(elapsed * 1000, 3),
            },
        )


class _Disconnected(Exception):
    pass


def _retry_headers(exc: AppError) -> dict[str, str] | None:
    retry_after = exc.details.get("retry_after")
    if exc.status_code in (429, 503) and retry_after is not None:
        return {"Retry-After": str(max(1, math.ceil(float(retry_after))))}
    return None


def _media_type(content_type: bytes, body: bytes) -> bytes:
    """The body's media type; with none declared, JSON if it looks like JSON, else a form
    (FastAPI reads an undeclared body as JSON, Kraken's surface as a form)."""
    media = content_type.split(b";", 1)[0].strip().lower()
    if media:
        if media.startswith(b"application/") and media.endswith(b"+json"):
            return b"application/json"
        return media
    return b"application/json" if body.lstrip()[:1] in (b"{", b"[") else FORM


FORM = b"application/x-www-form-urlencoded"


def _check_input(scope: Scope, headers: dict[bytes, bytes], body: bytes) -> None:
    check_text(str(scope.get("path", "")), "the path")
    query = scope.get("query_string", b"")
    if query:
        check_form(query, "query string")
    if not body:
        return
    media = _media_type(headers.get(b"content-type", b""), body)
    if media == b"application/json":
        parse_json(body)
    elif media == FORM:
        check_form(body, "form body")
    else:
        raise UnsupportedMediaType(
            "send application/json or application/x-www-form-urlencoded bodies"
        )


def _replay(body: bytes | None, receive: Receive) -> Receive:
    if body is None:
        return receive
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class InflightLimiter:
    """Counts requests in flight per identity; `enter` refuses beyond `limit` (0: none)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.counts: dict[Any, int] = {}

    def enter(self, ident: Any) -> bool:
        if not self.limit:
            return True
        n = self.counts.get(ident, 0)
        if n >= self.limit:
            return False
        self.counts[ident] = n + 1
        return True

    def leave(self, ident: Any) -> None:
        if not self.limit:
            return
        n = self.counts.get(ident, 0) - 1
        if n > 0:
            self.counts[ident] = n
        else:
            self.counts.pop(ident, None)
