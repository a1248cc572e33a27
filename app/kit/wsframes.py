"""One WebSocket message to many connections at the cost of a list append each.

Through ASGI, every message to every connection is its own `await send(...)`: the
framework's wrappers, the server's protocol object, a frame built for that connection and
a system call. For a feed message that goes to a thousand subscribers that is most of what
a gateway does. Server frames are not masked, so a text frame is the same bytes for every
connection without compression: `Frame` builds them once, and a connection served by
`FramingWebSocketProtocol` (uvicorn's sans-I/O WebSocket protocol, which `serve` runs) gets
them written straight to its socket, what it was sent during one step of the event loop in
one write (`Flusher`).

The server hands the connection's `FrameSink` to the application in the ASGI scope
(`scope["extensions"][EXTENSION]`), only where the frames may be written as they are (no
permessage-deflate negotiated). Anywhere else (another ASGI server, compression on) the
application sends through ASGI as usual.
"""

import asyncio
import struct
from collections.abc import Callable
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

EXTENSION = "exchange.frames"


class Frame:
    """A text message and its unmasked, unfragmented WebSocket frame."""

    __slots__ = ("data", "text")

    def __init__(self, text: str) -> None:
        payload = text.encode()
        n = len(payload)
        if n < 126:
            header = bytes((0x81, n))
        elif n < 1 << 16:
            header = struct.pack("!BBH", 0x81, 126, n)
        else:
            header = struct.pack("!BBQ", 0x81, 127, n)
        self.text = text
        self.data = header + payload


class FrameSink:
    """Writes whole frames to one open WebSocket connection's socket."""

    __slots__ = ("_protocol",)

    def __init__(self, protocol: WebSocketsSansIOProtocol) -> None:
        self._protocol = protocol

    @property
    def open(self) -> bool:
        p = self._protocol
        return not (p.close_sent or p.disconnected or p.transport.is_closing())

    def buffered(self) -> int:
        """Bytes written that the kernel has not taken yet (a slow reader's backlog)."""
        return self._protocol.transport.get_write_buffer_size()

    def write(self, data: bytes) -> None:
        if self.open:
            self._protocol.transport.write(data)

    def abort(self) -> None:
        """Drop the connection at once (a reader that stopped reading would never take a
        close frame; waiting for it would keep its backlog)."""
        self._protocol.transport.abort()


class FramingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol that also offers the application a
    `FrameSink` (no compression negotiated: frames go out as built)."""

    def handle_connect(self, event: Any) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # only set for an accepted handshake
        if scope is not None and not self.conn.extensions:
            scope["extensions"][EXTENSION] = FrameSink(self)


def sink_of(scope: Any) -> FrameSink | None:
    sink = (scope.get("extensions") or {}).get(EXTENSION)
    return sink if isinstance(sink, FrameSink) else None


class Flusher:
    """Calls each marked connection's flush once, after the current step of the event loop:
    whatever it was sent meanwhile leaves in one write (a system call per connection is
    the largest part of a fan-out)."""

    def __init__(self) -> None:
        self._marked: list[Callable[[], None]] = []
        self._scheduled = False

    def mark(self, flush: Callable[[], None]) -> None:
        self._marked.append(flush)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._scheduled = False
        marked, self._marked = self._marked, []
        for flush in marked:
            flush()
