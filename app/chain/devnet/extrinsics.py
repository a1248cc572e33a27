"""Signed extrinsics as a subtensor node takes them: decoding, eras and signature checks.

The envelope (version, signer, signature, the signed extensions' explicit data) is read by
hand because the signature covers its exact bytes; the call is decoded by scalecodec against
the devnet's metadata, so its arguments are named and typed exactly as clients encoded them.

Signing payload (Substrate, extrinsic format 4): call ++ extra ++ implicit, where extra is
(era, compact nonce, compact tip, metadata-hash mode) and implicit is (spec version, transaction
version, genesis hash, hash of the era's birth block, metadata hash: None); when longer than
256 bytes it is replaced by its blake2_256. sr25519 and ed25519 signatures are verified; ECDSA
ones are refused (`BadProof`).
"""

from dataclasses import dataclass
from typing import Any

import ed25519_zebra
import sr25519

from app.chain import codec
from app.chain.devnet.metadata import SPEC_VERSION, TRANSACTION_VERSION, CallDecoder

SIGNED_V4 = 0b1000_0100
UNSIGNED_V4 = 0b0000_0100
ED25519, SR25519, ECDSA = 0, 1, 2
SIGNATURE_LENGTH = {ED25519: 64, SR25519: 64, ECDSA: 65}


class BadFormat(ValueError):
    """Bytes that are not an extrinsic of this runtime (Substrate's codec errors)."""


class UnknownSigner(ValueError):
    """The signer is not given as `MultiAddress::Id` (no account lookup on this chain)."""


@dataclass(frozen=True, slots=True)
class Era:
    """A mortal era: valid for `period` blocks from a birth block congruent to `phase`."""

    period: int
    phase: int

    @classmethod
    def decode(cls, low: int, high: int) -> "Era":
        encoded = low + (high << 8)
        period = 2 << (encoded % (1 << 4))
        quantize_factor = max(period >> 12, 1)
        phase = (encoded >> 4) * quantize_factor
        if period < 4 or phase >= period:
            raise BadFormat("Invalid period and phase")
        return cls(period, phase)

    def birth(self, current: int) -> int:
        return (max(current, self.phase) - self.phase) // self.period * self.period + self.phase

    def death(self, current: int) -> int:
        return self.birth(current) + self.period


@dataclass(frozen=True, slots=True)
class Extrinsic:
    data: bytes  # as submitted: compact length prefix, then the extrinsic
    hash: bytes  # blake2_256 of `data`, the hash clients and the pool know it by
    signer: bytes | None  # None: unsigned (an inherent)
    signature_kind: int
    signature: bytes
    era: Era | None  # None: immortal
    nonce: int
    tip: int
    metadata_hash_mode: int
    call: bytes  # the encoded call
    extra: bytes  # the signed extensions' explicit bytes, as signed
    pallet: str
    function: str
    args: dict[str, Any]

    @property
    def hash_hex(self) -> str:
        return "0x" + self.hash.hex()

    @property
    def length(self) -> int:
        """The length fees are charged for: the whole encoding, prefix included."""
        return len(self.data)


def decode(data: bytes, decoder: CallDecoder) -> Extrinsic:
    try:
        length, offset = codec.decode_compact(data)
    except ValueError as exc:
        raise BadFormat(str(exc)) from None
    if offset + length != len(data):
        raise BadFormat(
            "Not enough data to fill buffer"
            if offset + length > len(data)
            else "Input buffer has still data left after decoding!"
        )
    if offset >= len(data):
        raise BadFormat("Not enough data to fill buffer")
    version = data[offset]
    offset += 1
    if version & 0b0111_1111 != 4:
        raise BadFormat("Invalid transaction version")
    signer: bytes | None = None
    kind, signature, era, nonce, tip, mode = -1, b"", None, 0, 0, 0
    extra_start = extra_end = offset
    try:
        if version == SIGNED_V4:
            address_kind = data[offset]
            if address_kind != 0:
                raise UnknownSigner("CannotLookup")
            signer = _take(data, offset + 1, 32)
            offset += 33
            kind = data[offset]
            if kind not in SIGNATURE_LENGTH:
                raise BadFormat("Could not decode `MultiSignature`, variant doesn't exist")
            signature = _take(data, offset + 1, SIGNATURE_LENGTH[kind])
            offset += 1 + SIGNATURE_LENGTH[kind]
            extra_start = offset
            if data[offset] == 0:
                offset += 1
            else:
                era = Era.decode(data[offset], data[offset + 1])
                offset += 2
            nonce, offset = codec.decode_compact(data, offset)
            tip, offset = codec.decode_compact(data, offset)
            mode = data[offset]
            if mode not in (0, 1):
                raise BadFormat("Could not decode `Mode`, variant doesn't exist")
            offset += 1
            extra_end = offset
        elif version != UNSIGNED_V4:
            raise BadFormat("Invalid transaction version")
    except IndexError:
        raise BadFormat("Not enough data to fill buffer") from None
    except ValueError as exc:
        if isinstance(exc, BadFormat | UnknownSigner):
            raise
        raise BadFormat(str(exc)) from None
    call = data[offset:]
    try:
        value, used = decoder.decode_call(call)
    except Exception as exc:  # scalecodec raises many kinds for undecodable calls
        raise BadFormat(f"Could not decode call: {exc}") from None
    if used != len(call):
        raise BadFormat("Input buffer has still data left after decoding!")
    return Extrinsic(
        data=data,
        hash=codec.blake2_256(data),
        signer=signer,
        signature_kind=kind,
        signature=signature,
        era=era,
        nonce=nonce,
        tip=tip,
        metadata_hash_mode=mode,
        call=call,
        extra=data[extra_start:extra_end],
        pallet=value["call_module"],
        function=value["call_function"],
        args={a["name"]: a["value"] for a in value["call_args"]},
    )


def _take(data: bytes, offset: int, n: int) -> bytes:
    if offset + n > len(data):
        raise IndexError(offset + n)
    return data[offset : offset + n]


def signing_payload(xt: Extrinsic, genesis_hash: bytes, birth_hash: bytes) -> bytes:
    implicit = (
        codec.u32(SPEC_VERSION)
        + codec.u32(TRANSACTION_VERSION)
        + genesis_hash
        + birth_hash
        + b"\x00"  # CheckMetadataHash: this runtime carries no metadata hash
    )
    payload = xt.call + xt.extra + implicit
    return codec.blake2_256(payload) if len(payload) > 256 else payload


def signature_is_valid(xt: Extrinsic, payload: bytes) -> bool:
    if xt.signer is None:
        return False
    if xt.signature_kind == SR25519:
        return bool(sr25519.verify(xt.signature, payload, xt.signer))
    if xt.signature_kind == ED25519:
        return bool(ed25519_zebra.ed_verify(xt.signature, payload, xt.signer))
    return False  # ECDSA signers are not supported by the devnet


def encode_unsigned(call: bytes) -> bytes:
    """An unsigned (inherent) extrinsic around an encoded call."""
    body = bytes([UNSIGNED_V4]) + call
    return codec.compact(len(body)) + body
