"""The browser front ends the service serves itself: the market page at `/` (public,
read-only, live from the WebSocket feed) and the admin console at `/admin` (signs requests
in the browser with WebCrypto; the secret never leaves the page's memory).

Plain ES modules, CSS and one vendored charting library (`static/vendor/`): no build step,
nothing downloaded at run time. `headers.py` sets the pages' security headers (a strict
Content-Security-Policy, no framing, no caching of private answers).
"""
