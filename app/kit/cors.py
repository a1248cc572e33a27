"""CORS for browser apps on other origins (`EXCHANGE_CORS_ORIGINS`; none by default).

Pure ASGI and outermost, so that every answer to an allowed origin carries the grant, the
refusals the request middleware answers itself (413, 429, ...) included: a browser app can
then read why it was refused. Authentication is by headers (`API-Key`, `API-Sign`), never
by cookies, so credentials are not allowed and none are needed.

- A preflight (`OPTIONS` with `Access-Control-Request-Method`) from an allowed origin is
  answered here, 204 with the grant: the methods of the API and the headers `API-Key`,
  `API-Sign`, `Content-Type`, `X-Request-ID`.
- Any other request from an allowed origin goes on, and its answer gets
  `Access-Control-Allow-Origin` and exposes `X-Request-ID` and `Retry-After`.
- A request from another origin goes on untouched and gets no grant (a preflight: the
  router's 405, which the browser reads as a refusal).
- With origins configured, every answer says `Vary: Origin`, so a shared cache never hands
  one origin's grant to another (public market data may be cached for a second).
"""

from collections.abc import Iterable

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE"
ALLOW_HEADERS = "API-Key, API-Sign, Content-Type, X-Request-ID"
EXPOSE_HEADERS = "X-Request-ID, Retry-After"
MAX_AGE = "600"


class CORSMiddleware:
    def __init__(self, app: ASGIApp, origins: Iterable[str]) -> None:
        self.app = app
        self.origins = frozenset(origins)
        self.any_origin = "*" in self.origins

    def allowed(self, origin: str) -> bool:
        return self.any_origin or origin in self.origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.origins:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1")
        granted = bool(origin) and self.allowed(origin)
        if (
            granted
            and scope.get("method") == "OPTIONS"
            and b"access-control-request-method" in headers
        ):
            await self._preflight(origin, send)
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out.add_vary_header("Origin")
                if granted:
                    out["Access-Control-Allow-Origin"] = origin
                    out["Access-Control-Expose-Headers"] = EXPOSE_HEADERS
            await send(message)

        await self.app(scope, receive, send_with_cors)

    @staticmethod
    async def _preflight(origin: str, send: Send) -> None:
        headers = [
            (b"access-control-allow-origin", origin.encode("latin-1")),
            (b"access-control-allow-methods", ALLOW_METHODS.encode()),
            (b"access-control-allow-headers", ALLOW_HEADERS.encode()),
            (b"access-control-max-age", MAX_AGE.encode()),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
