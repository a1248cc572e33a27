"""Kraken-style ids derived reversibly from native integer ids (no lookup table).

An id is scrambled with a bijection on 64 bits (xor, then multiply by an odd constant), a
16-bit check is appended (so a mistyped id is refused instead of naming another order),
and the 80 bits are written in base32 (A-Z, 2-7) as Kraken writes its ids:
`OXXXXX-XXXXX-XXXXXX` for orders, `TXXXXX-XXXXX-XXXXXX` for trades, `LXXXXX-XXXXX-XXXXXX`
for ledger entries, `D...` and `W...` for the funding methods' deposit and withdrawal
reference ids (`refid`).
"""

import hashlib
import re

from app.kit.units import MAX_AMOUNT

_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_INDEX = {c: i for i, c in enumerate(_ALPHABET)}
_MASK = (1 << 64) - 1
_MULT = 0x9E3779B97F4A7C15  # odd: invertible mod 2^64
_MULT_INV = pow(_MULT, -1, 1 << 64)
_SALTS = {
    "O": 0x5DEECE66D1B2C3A4,
    "T": 0x2545F4914F6CDD1D,
    "D": 0x3C6EF372FE94F82B,
    "W": 0x510E527FADE682D1,
    "L": 0x9B05688C2B3E6C1F,
}
MAX_ID = MAX_AMOUNT
_FORMAT = re.compile(r"^([OTDWL])([A-Z2-7]{5})-([A-Z2-7]{5})-([A-Z2-7]{6})$")


def _check(kind: str, scrambled: int) -> int:
    digest = hashlib.blake2b(kind.encode() + scrambled.to_bytes(8, "big"), digest_size=2)
    return int.from_bytes(digest.digest(), "big")


def _encode(kind: str, value: int) -> str:
    if not 0 < value <= MAX_ID:
        raise ValueError(f"id out of range: {value}")
    scrambled = ((value ^ _SALTS[kind]) * _MULT) & _MASK
    bits = (scrambled << 16) | _check(kind, scrambled)
    chars = "".join(_ALPHABET[(bits >> (5 * (15 - i))) & 31] for i in range(16))
    return f"{kind}{chars[:5]}-{chars[5:10]}-{chars[10:]}"


def _decode(kind: str, text: str) -> int | None:
    match = _FORMAT.match(text.strip().upper())
    if match is None or match.group(1) != kind:
        return None
    bits = 0
    for c in "".join(match.groups()[1:]):
        bits = (bits << 5) | _INDEX[c]
    scrambled, check = bits >> 16, bits & 0xFFFF
    if check != _check(kind, scrambled):
        return None
    value = ((scrambled * _MULT_INV) & _MASK) ^ _SALTS[kind]
    return value if 0 < value <= MAX_ID else None


def order_txid(order_id: int) -> str:
    return _encode("O", order_id)


def order_id_of(txid: str) -> int | None:
    """The native order id, or None if `txid` is not one this service issued."""
    return _decode("O", txid)


def trade_txid(fill_id: int, taker: bool) -> str:
    """One id per side of a fill (a self-trade has two): fill id and liquidity bit."""
    return _encode("T", fill_id * 2 + (1 if taker else 0))


def fill_of(txid: str) -> tuple[int, bool] | None:
    value = _decode("T", txid)
    return None if value is None else (value >> 1, bool(value & 1))


def deposit_refid(deposit_id: int) -> str:
    return _encode("D", deposit_id)


def withdrawal_refid(withdrawal_id: int) -> str:
    return _encode("W", withdrawal_id)


def withdrawal_id_of(refid: str) -> int | None:
    return _decode("W", refid)


def ledger_id(seq: int, staked: bool) -> str:
    """A ledger entry: its first transfer's journal position, and whether it is of the
    staked balance (a transfer between available and staked is two entries)."""
    return _encode("L", seq * 2 + (1 if staked else 0))


def ledger_entry_of(txid: str) -> tuple[int, bool] | None:
    value = _decode("L", txid)
    return None if value is None else (value >> 1, bool(value & 1))
