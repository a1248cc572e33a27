"""Security headers: on the pages and their files, and on every private answer.

- Pages (`/`, `/admin`) and `/static/...`: a strict Content-Security-Policy (scripts,
  styles and fonts from this origin only, no inline script or style, no eval; connections to
  this origin and its WebSocket; no plugins, no `<base>`, no form posts), `frame-ancestors
  'none'` (and `X-Frame-Options: DENY` for old browsers), `Referrer-Policy: no-referrer`,
  `Cross-Origin-Opener-Policy: same-origin`. The console and its files are `no-store`; the
  market page and shared files `no-cache` (revalidated, so a deploy is seen at once).
- Private answers (a request with an `API-Key` header, or any `/v1/admin` or Kraken private
  path): `Cache-Control: no-store`, whatever the status.
- Every answer: `X-Content-Type-Options: nosniff`.
"""

import re

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAGES = ("/", "/admin")
STATIC = "/static/"
CONSOLE = ("/admin", "/static/admin/")
PRIVATE = ("/v1/admin", "/0/private/")
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")


def content_security_policy(scheme: str, host: str | None) -> str:
    """The pages' policy. `connect-src 'self'` covers this origin's WebSocket in current
    browsers; the explicit ws(s):// origin is for older ones."""
    connect = "'self'"
    if host and _HOST.fullmatch(host):
        connect += f" {'wss' if scheme == 'https' else 'ws'}://{host}"
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self' data:",
            "font-src 'self'",
            f"connect-src {connect}",
            "base-uri 'none'",
            "form-action 'none'",
            "frame-ancestors 'none'",
        ]
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        root = str(scope.get("root_path", ""))
        if root and path.startswith(root):
            path = path[len(root) :] or "/"
        headers = dict(scope.get("headers") or [])
        page = path in PAGES or path.startswith(STATIC)
        console = path == CONSOLE[0] or path.startswith(CONSOLE[1])
        private = b"api-key" in headers or path.startswith(PRIVATE)
        host = headers.get(b"host", b"").decode("latin-1") or None
        csp = content_security_policy(str(scope.get("scheme", "http")), host) if page else ""

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                out = MutableHeaders(scope=message)
                out["X-Content-Type-Options"] = "nosniff"
                if page:
                    out["Content-Security-Policy"] = csp
                    out["X-Frame-Options"] = "DENY"
                    out["Referrer-Policy"] = "no-referrer"
                    out["Cross-Origin-Opener-Policy"] = "same-origin"
                    out["Cache-Control"] = "no-store" if console else "no-cache"
                if private:
                    out["Cache-Control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)
