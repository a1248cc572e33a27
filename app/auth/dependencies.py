"""FastAPI dependencies that authenticate a signed request and check its scope.

What is signed: the URL path, and as payload the raw body, or for requests without a body
(GET, DELETE) the raw query string. The nonce travels inside that payload: a `nonce` field
of the form or JSON body, or a `nonce` query parameter.

What is signed is what is acted on: every byte that can choose what a request does is inside
the signature, so nobody on the way can add or change one.
- A request with a body is signed over its body only: it must carry no query string
  (400 `unsigned_parameters`), or a route could act on unsigned query parameters.
- The signed path is the path routing matches (`scope["path"]`: the deployment's root_path
  included), which must be exactly the bytes sent (`raw_path`) and made only of characters
  that need no escape: a path with percent-escapes has two spellings, one signed and
  another routed, and is refused (400 `non_canonical_path`). Every id and symbol in the
  API's paths is URL-safe (`SN1-TAO`), so no client needs an escape.
- A route that reads no body (GET, DELETE) refuses a body that sets anything but the nonce
  (400 `unexpected_body`): it would sign parameters the route then ignores.
These checks run before the key is even looked up: a refused request does nothing, it does
not even use up its nonce.
"""

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, Request

from app.auth.errors import (
    MissingCredentials,
    NonCanonicalPath,
    UnexpectedBody,
    UnsignedParameters,
)
from app.auth.scopes import Scope
from app.auth.service import Authenticator, Principal
from app.kit.errors import AppError
from app.kit.inputs import parse_json


def _signed_fields(payload: bytes, content_type: str) -> dict[str, Any]:
    """What a signed payload sets: a JSON object's members, or a form's (or a query
    string's) first values. A JSON body that is not an object sets a member named "?"."""
    if not payload:
        return {}
    if content_type.startswith("application/json") or (
        not content_type and payload.lstrip()[:1] in (b"{", b"[")
    ):
        try:
            body = parse_json(payload)
        except AppError:  # malformed, too deep or unclean (the middleware refuses those)
            return {"?": None}
        return body if isinstance(body, dict) else {"?": None}
    return {k: v[0] for k, v in parse_qs(payload.decode("latin-1"), keep_blank_values=True).items()}


def _nonce_of(fields: dict[str, Any]) -> str | None:
    value = fields.get("nonce")
    return str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None


# A path's characters that need no escape (RFC 3986's unreserved, sub-delims, ":", "@"
# and "/"): a path of only these is routed, signed and read back (`request.url.path`) the
# same, whatever the server.
_CANONICAL_PATH = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:@/]*")


def signed_path(request: Request) -> str:
    """The path the request must be signed over, which is also the one routing matched
    (read from the scope: building `request.url` parses the Host header, a cost on every
    signed request)."""
    path: str = request.scope["path"]
    raw = request.scope.get("raw_path")
    if not _CANONICAL_PATH.fullmatch(path) or (raw is not None and raw != path.encode()):
        raise NonCanonicalPath(
            "send the path without percent-escapes: it is signed and routed exactly as sent"
        )
    return path


async def authenticate_request(
    request: Request,
    required: Scope | None,
    *,
    reads_body: bool | None = None,
    defer_nonce: bool = False,
) -> Principal:
    """`reads_body`: whether the route acts on its body (default: whether it declares one).
    A route that reads none refuses a body that sets anything but the nonce (400
    `unexpected_body`): a signed parameter it would ignore must not seem to be obeyed.
    `defer_nonce`: see `Authenticator.authenticate`."""
    key = request.headers.get("api-key")
    signature = request.headers.get("api-sign")
    if not key or not signature:
        raise MissingCredentials("API-Key and API-Sign headers are required")
    path = signed_path(request)
    body = await request.body()
    query = request.scope.get("query_string", b"")
    if body and query:
        raise UnsignedParameters(
            "a request with a body is signed over its body alone: "
            "send every parameter in the body and no query string"
        )
    if body:
        payload, content_type = body, request.headers.get("content-type", "")
        if reads_body is None:
            reads_body = getattr(request.scope.get("route"), "body_field", None) is not None
        fields = _signed_fields(body, content_type)
        if not reads_body and set(fields) - {"nonce"}:
            raise UnexpectedBody(
                "this route reads no body: send its parameters in the query string, "
                "signed (the body may carry only the nonce)"
            )
    else:
        payload, fields = query, _signed_fields(query, "")
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.authenticate(
        key=key,
        signature=signature,
        path=path,
        nonce=_nonce_of(fields),
        payload=payload,
        required=required,
        defer_nonce=defer_nonce,
    )


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        return await authenticate_request(request, scope)

    dependency.__name__ = f"require_{scope.value}"
    return dependency


def require_recording_nonce(
    scope: Scope, defers: Callable[[Request], bool]
) -> Callable[[Request], AsyncIterator[Principal]]:
    """A dependency: the principal of a request whose nonce what it does records in its own
    transaction where `defers(request)` (`Principal.nonce`: the order sequencer records it in
    the order's group, which commits anyway). Whatever else becomes of the request (refused
    before or by the sequencer, a bad body), its nonce is recorded before the answer
    leaves, as for any signed request."""

    async def dependency(request: Request) -> AsyncIterator[Principal]:
        principal = await authenticate_request(request, scope, defer_nonce=defers(request))
        try:
            yield principal
        finally:
            if principal.nonce is not None:
                authenticator: Authenticator = request.app.state.authenticator
                await authenticator.settle(principal.nonce)

    dependency.__name__ = f"require_{scope.value}_recording_nonce"
    return dependency


async def authenticated(request: Request) -> Principal:
    """Any valid signed request, whatever its key's scopes."""
    return await authenticate_request(request, None)


AnyPrincipal = Annotated[Principal, Depends(authenticated)]
ReadPrincipal = Annotated[Principal, Depends(require(Scope.READ))]
TradePrincipal = Annotated[Principal, Depends(require(Scope.TRADE))]
WithdrawPrincipal = Annotated[Principal, Depends(require(Scope.WITHDRAW))]
AdminPrincipal = Annotated[Principal, Depends(require(Scope.ADMIN))]
