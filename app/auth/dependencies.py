"""FastAPI dependencies that authenticate a signed request and check its scope.

What is signed: the URL path, and as payload the raw body, or for requests without a body
(GET, DELETE) the raw query string. The nonce travels inside that payload: a `nonce` field
of the form or JSON body, or a `nonce` query parameter.
"""

from collections.abc import Awaitable, Callable
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import Depends, Request

from app.auth.errors import MissingCredentials
from app.auth.scopes import Scope
from app.auth.service import Authenticator, Principal
from app.kit.errors import AppError
from app.kit.inputs import parse_json


def _nonce_from(payload: bytes, content_type: str) -> str | None:
    if not payload:
        return None
    if content_type.startswith("application/json"):
        try:
            body = parse_json(payload)
        except AppError:  # malformed, too deep or unclean: no nonce to be read from it
            return None
        value = body.get("nonce") if isinstance(body, dict) else None
        return str(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
    values = parse_qs(payload.decode("latin-1")).get("nonce")
    return values[0] if values else None


async def authenticate_request(request: Request, required: Scope | None) -> Principal:
    key = request.headers.get("api-key")
    signature = request.headers.get("api-sign")
    if not key or not signature:
        raise MissingCredentials("API-Key and API-Sign headers are required")
    body = await request.body()
    if body:
        payload, content_type = body, request.headers.get("content-type", "")
    else:
        payload, content_type = request.scope.get("query_string", b""), ""
    authenticator: Authenticator = request.app.state.authenticator
    return await authenticator.authenticate(
        key=key,
        signature=signature,
        path=request.url.path,
        nonce=_nonce_from(payload, content_type),
        payload=payload,
        required=required,
    )


def require(scope: Scope) -> Callable[[Request], Awaitable[Principal]]:
    async def dependency(request: Request) -> Principal:
        return await authenticate_request(request, scope)

    dependency.__name__ = f"require_{scope.value}"
    return dependency


ReadPrincipal = Annotated[Principal, Depends(require(Scope.READ))]
TradePrincipal = Annotated[Principal, Depends(require(Scope.TRADE))]
WithdrawPrincipal = Annotated[Principal, Depends(require(Scope.WITHDRAW))]
AdminPrincipal = Annotated[Principal, Depends(require(Scope.ADMIN))]
