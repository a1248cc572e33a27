"""SS58 addresses (Substrate): base58 of prefix + 32-byte public key + 2-byte checksum, where
the checksum is the first bytes of blake2b-512(b"SS58PRE" + prefix + key)."""

import hashlib

BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_INDEX = {c: i for i, c in enumerate(BASE58_ALPHABET)}
BITTENSOR_PREFIX = 42


class InvalidSS58(ValueError):
    pass


def b58decode(value: str) -> bytes:
    n = 0
    for char in value:
        digit = _INDEX.get(char)
        if digit is None:
            raise InvalidSS58(f"invalid base58 character {char!r}")
        n = n * 58 + digit
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    leading = len(value) - len(value.lstrip("1"))
    return b"\x00" * leading + body


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, rem = divmod(n, 58)
        out = BASE58_ALPHABET[rem] + out
    leading = len(data) - len(data.lstrip(b"\x00"))
    return "1" * leading + out


def _checksum(payload: bytes) -> bytes:
    return hashlib.blake2b(b"SS58PRE" + payload, digest_size=64).digest()[:2]


def _encode_prefix(prefix: int) -> bytes:
    if 0 <= prefix < 64:
        return bytes([prefix])
    if 64 <= prefix < 16384:
        first = ((prefix & 0b0000_0000_1111_1100) >> 2) | 0b0100_0000
        second = (prefix >> 8) | ((prefix & 0b0000_0000_0000_0011) << 6)
        return bytes([first, second])
    raise InvalidSS58(f"prefix {prefix} out of range")


def ss58_encode(public_key: bytes, prefix: int = BITTENSOR_PREFIX) -> str:
    if len(public_key) != 32:
        raise InvalidSS58("public key must be 32 bytes")
    payload = _encode_prefix(prefix) + public_key
    return b58encode(payload + _checksum(payload))


def ss58_decode(address: str) -> tuple[int, bytes]:
    """(prefix, 32-byte public key) of a valid address; InvalidSS58 otherwise."""
    if not 40 <= len(address) <= 60:
        raise InvalidSS58("an SS58 account address has 47 to 48 characters")
    data = b58decode(address)
    if not data:
        raise InvalidSS58("empty address")
    if data[0] < 64:
        prefix, head = data[0], 1
    elif data[0] < 128:
        if len(data) < 2:
            raise InvalidSS58("truncated prefix")
        lower = ((data[0] << 2) | (data[1] >> 6)) & 0xFF
        prefix, head = lower | ((data[1] & 0x3F) << 8), 2
    else:
        raise InvalidSS58("reserved address type")
    if len(data) != head + 32 + 2:
        raise InvalidSS58("not an account address (wrong length)")
    payload, checksum = data[:-2], data[-2:]
    if _checksum(payload) != checksum:
        raise InvalidSS58("bad checksum")
    return prefix, data[head:-2]


def validate_address(address: str, prefix: int = BITTENSOR_PREFIX) -> bytes:
    """The public key of `address` if it is a valid SS58 address with `prefix`."""
    got, key = ss58_decode(address)
    if got != prefix:
        raise InvalidSS58(f"address prefix {got}, expected {prefix}")
    return key
