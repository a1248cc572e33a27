"""SS58 decoding checks the checksum and the prefix; cross-checked against scalecodec."""

import os

import pytest
from scalecodec.utils.ss58 import ss58_encode as reference_encode

from app.kit.ss58 import InvalidSS58, ss58_decode, ss58_encode, validate_address

ALICE = "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
ALICE_KEY = bytes.fromhex("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")


def test_known_address() -> None:
    assert ss58_decode(ALICE) == (42, ALICE_KEY)
    assert ss58_encode(ALICE_KEY) == ALICE
    assert validate_address(ALICE) == ALICE_KEY


@pytest.mark.parametrize("prefix", [0, 2, 42, 63, 64, 1000, 16383])
def test_round_trip_matches_scalecodec(prefix: int) -> None:
    key = os.urandom(32)
    address = reference_encode(key.hex(), ss58_format=prefix)
    assert ss58_encode(key, prefix) == address
    assert ss58_decode(address) == (prefix, key)


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "hello",
        ALICE[:-1] + ("R" if ALICE[-1] != "R" else "S"),  # checksum broken
        ALICE[:10] + "0" + ALICE[11:],  # not base58
        ALICE + "1",
        ALICE[:-2],
    ],
)
def test_malformed(bad: str) -> None:
    with pytest.raises(InvalidSS58):
        validate_address(bad)


def test_other_prefix_is_refused() -> None:
    with pytest.raises(InvalidSS58, match="prefix 0"):
        validate_address(reference_encode(ALICE_KEY.hex(), ss58_format=0))
