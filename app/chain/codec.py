"""Storage key hashing, the few SCALE encodings the devnet writes, and exact fixed-point decoding.

Kept dependency-light (hashlib + xxhash) because the devnet encodes thousands of values a block:
going through scalecodec objects for each would dominate its cost.
"""

import hashlib
from fractions import Fraction

import xxhash

U64F64_ONE = 2**64
I96F32_ONE = 2**32


def twox128(data: bytes) -> bytes:
    return xxhash.xxh64(data, seed=0).digest()[::-1] + xxhash.xxh64(data, seed=1).digest()[::-1]


def twox64(data: bytes) -> bytes:
    return xxhash.xxh64(data, seed=0).digest()[::-1]


def blake2_128(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest()


def blake2_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def hash_key(hasher: str, encoded: bytes) -> bytes:
    """One key part as Substrate hashes it (only the hashers subtensor uses here)."""
    if hasher == "Identity":
        return encoded
    if hasher == "Blake2_128Concat":
        return blake2_128(encoded) + encoded
    if hasher == "Twox64Concat":
        return twox64(encoded) + encoded
    raise ValueError(f"unsupported hasher {hasher}")


def storage_prefix(pallet: str, item: str) -> bytes:
    return twox128(pallet.encode()) + twox128(item.encode())


# --- SCALE encoding ---------------------------------------------------------------------------


def u8(v: int) -> bytes:
    return v.to_bytes(1, "little")


def u16(v: int) -> bytes:
    return v.to_bytes(2, "little")


def u32(v: int) -> bytes:
    return v.to_bytes(4, "little")


def u64(v: int) -> bytes:
    return v.to_bytes(8, "little")


def u128(v: int) -> bytes:
    return v.to_bytes(16, "little")


def i64(v: int) -> bytes:
    return v.to_bytes(8, "little", signed=True)


def i128(v: int) -> bytes:
    return v.to_bytes(16, "little", signed=True)


def boolean(v: bool) -> bytes:
    return b"\x01" if v else b"\x00"


def compact(v: int) -> bytes:
    if v < 1 << 6:
        return bytes([v << 2])
    if v < 1 << 14:
        return ((v << 2) | 1).to_bytes(2, "little")
    if v < 1 << 30:
        return ((v << 2) | 2).to_bytes(4, "little")
    raw = v.to_bytes((v.bit_length() + 7) // 8, "little")
    return bytes([((len(raw) - 4) << 2) | 3]) + raw


def vec_u8(data: bytes) -> bytes:
    return compact(len(data)) + data


def vec_bool(values: list[bool]) -> bytes:
    return compact(len(values)) + b"".join(boolean(v) for v in values)


# --- Fixed point, decoded exactly ---------------------------------------------------------------


def u64f64(bits: int) -> Fraction:
    return Fraction(bits, U64F64_ONE)


def i96f32(bits: int) -> Fraction:
    """I96F32 is signed: `bits` is the two's-complement i128 already sign-extended by the codec."""
    return Fraction(bits, I96F32_ONE)


def safe_float(mantissa: int, exponent: int) -> Fraction:
    """`SafeFloat {mantissa: u128, exponent: i64}`: value = mantissa * 10^exponent."""
    if exponent >= 0:
        return Fraction(mantissa * 10**exponent)
    return Fraction(mantissa, 10**-exponent)


def decode_text(data: bytes | str | None) -> str:
    """Chain bytes as text; invalid UTF-8 is replaced, never raised."""
    if data is None:
        return ""
    if isinstance(data, str):
        if data.startswith("0x"):
            try:
                return bytes.fromhex(data[2:]).decode("utf-8", errors="replace")
            except ValueError:
                return data
        return data
    return bytes(data).decode("utf-8", errors="replace")


def decode_compact(data: bytes, offset: int = 0) -> tuple[int, int]:
    """A SCALE compact integer at `offset`: (value, offset after it). Raises ValueError."""
    if offset >= len(data):
        raise ValueError("no bytes left for a compact integer")
    mode = data[offset] & 0b11
    if mode == 0:
        return data[offset] >> 2, offset + 1
    if mode in (1, 2):
        size = 2 if mode == 1 else 4
        if offset + size > len(data):
            raise ValueError("truncated compact integer")
        return int.from_bytes(data[offset : offset + size], "little") >> 2, offset + size
    size = (data[offset] >> 2) + 4
    if offset + 1 + size > len(data):
        raise ValueError("truncated compact integer")
    return int.from_bytes(data[offset + 1 : offset + 1 + size], "little"), offset + 1 + size
