"""Frames built once for many connections are exactly what the `websockets` library
builds for one (text, final, unmasked), at every length encoding."""

from hypothesis import given
from hypothesis import strategies as st
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode

from app.kit.wsframes import Frame


@given(st.text())
def test_a_frame_is_what_websockets_would_send(text: str) -> None:
    assert Frame(text).data == WsFrame(Opcode.TEXT, text.encode()).serialize(mask=False)
    assert Frame(text).text == text


def test_each_length_encoding() -> None:
    for n in (0, 125, 126, 65535, 65536, 70000):
        text = "x" * n
        assert Frame(text).data == WsFrame(Opcode.TEXT, text.encode()).serialize(mask=False)
