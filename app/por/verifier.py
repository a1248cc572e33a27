"""Standalone verifier of the exchange's proof of reserves (format version 1).

    python -m app por verify --audit audit.json [--proof my-proof.json] [--chain wss://...]
    python verifier.py --audit https://exchange.example/v1/proof-of-reserves --proof p.json

This file is the whole verifier: it imports nothing of the exchange's code, only the standard
library, `xxhash` and `sr25519` (both come with substrate-interface) and, for `--chain`,
`substrate-interface`. Copy it anywhere. Everything it checks is specified here, so that
anyone can write their own.

THE AUDIT DOCUMENT (`GET /v1/proof-of-reserves`, JSON). Amounts are decimal strings of base
units (1 TAO = 10^9 rao; every alpha has 9 decimals too). Hex strings start with "0x".

    version      1
    audit_id     the audit's number
    block        {"number", "hash"}: the finalized block the audit describes
    assets       the asset codes in the order the tree commits to them (TAO first)
    liabilities  {"root": hex, "leaf_count", "totals": {asset: amount}}
    reserves     {"header", "read_proof", "storage", "accounts", "positions", "totals"}
    coverage     [{"asset", "liabilities", "reserves", "ratio", "covered", "shortfall", ...}]
    ownership    {"signatures": [{"address", "message", "signature"}]}

1. Liabilities: a Merkle sum tree of every user's balance (available + held, which includes
   pending withdrawals + staked), one leaf per user, SHA-256, amounts as u128 big-endian:

       sums(v)   = u128be(v[a0]) || u128be(v[a1]) || ...     (the audit's asset order)
       leaf      = SHA256(0x00 || salt (32 bytes) || u64be(user_id) || sums(balances))
       node      = SHA256(0x01 || left || sums(left sums) || right || sums(right sums))
       node sums = left sums + right sums, per asset (exact integers; each below 2^128)

   The salt is random, fresh for every user in every audit, and given only to that user:
   nobody can test a guess of someone's id and balance against a leaf. Leaves are sorted by
   their hash (so by the salt: a new order every audit). Each level pairs nodes (0,1), (2,3),
   ...; an odd last node moves up unchanged. The root node's hash is `liabilities.root`, its
   sums `liabilities.totals`. Balances cannot be negative: the encoding has no sign, and every
   node commits to both children's sums separately, so each parent's sum is exactly the sum
   of its leaves'.

   A user's inclusion proof (`GET /v1/proof-of-reserves/proof`, signed) gives the leaf
   (`index`, `user_id`, `salt`, `balances`) and the `path`: for each level from the leaf up,
   the sibling's `side` ("left" or "right"), `hash` and `sums` (no step where the node moved up
   alone). Verifying: recompute the leaf; fold the path; the sides must be those that `index`
   and `leaf_count` give; the result must be the published root and totals.

2. Reserves, read from the chain at `block`. `reserves.header` is the block's header as
   `chain_getHeader` returns it; its hash (Blake2-256 of the SCALE header: parentHash,
   compact(number), stateRoot, extrinsicsRoot, digest logs as a SCALE vector of their bytes)
   must be `block.hash`. `reserves.storage` lists every storage entry used (`key`, SCALE
   `value`, null when absent); `reserves.read_proof` (when the node served one) is
   `state_getReadProof(keys, block.hash)`: the trie nodes proving each value against the
   header's `stateRoot` (Substrate's trie, LayoutV1: see `trie_lookup`). Each claim is then
   recomputed from those values:

   - `accounts[i].free` = `System.Account[address].data.free`: the u64 at bytes 16..24 of the
     AccountInfo (nonce, consumers, providers, sufficients: u32 each; then free, ...);
   - `positions[i].alpha` (coldkey c, hotkey h, subnet n) = floor(TotalHotkeyAlpha[h, n] *
     shares / total shares), where shares = AlphaV2[h, c, n] when present with a non-zero
     mantissa (a SafeFloat: u128 mantissa, i64 exponent, value mantissa * 10^exponent), else
     Alpha[h, c, n] (U64F64: u128 / 2^64); total shares likewise from TotalHotkeySharesV2 /
     TotalHotkeyShares[h, n]; `registered_at` = NetworkRegisteredAt[n] (which token the
     subnet is: a netuid can be reused);
   - `totals`: TAO = the sum of `free`, each alpha = the sum of its positions.

   Storage keys: twox128(pallet) || twox128(item) || key parts, an account part hashed as
   blake2_128(id) || id, a netuid part as its u16 little-endian bytes (twox128 = xxhash64 with
   seeds 0 and 1, each digest little-endian). Items: System.Account[c];
   SubtensorModule.TotalHotkeyAlpha / TotalHotkeyShares / TotalHotkeySharesV2 [h, n];
   Alpha / AlphaV2 [h, c, n]; NetworkRegisteredAt [n].

3. Coverage per asset: `ratio` = floor(reserves * 10^6 / liabilities) / 10^6 with six decimals
   (null without liabilities), `covered` = reserves >= liabilities, `shortfall` = what is
   missing (0 if none); a `reason` says why when not covered.

4. Ownership: every account of `reserves.accounts` signs (sr25519, Substrate's signing
   context, over the UTF-8 bytes) the message

       dTAO exchange proof of reserves v1
       audit <audit_id> at block <number> <block hash>
       liabilities root <root>
       account <SS58 address>

   (lines joined by "\\n", no trailing newline), so the keys that hold the reserves vouch for
   this very audit. An account that does not sign counts for nothing.

`--chain URL` also asks a node (an archive node for old blocks): the block's header and that
it is the finalized chain's block at that number, and every storage value again (with a fresh
read proof when the node serves them).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import sr25519
import xxhash

VERSION = 1
MAX_U128 = 2**128 - 1
MESSAGE_HEADER = "dTAO exchange proof of reserves v1"
RATIO_DECIMALS = 6
SS58_PREFIX = 42


class VerificationError(Exception):
    """The proof does not hold: the message says where."""


# --- the liabilities tree ---------------------------------------------------------------------


def amount(value: Any, where: str) -> int:
    """A canonical decimal string (or integer) of a non-negative amount below 2^128."""
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    if not isinstance(text, str) or not text.isascii() or not text.isdigit():
        raise VerificationError(f"{where}: not an amount: {value!r}")
    if len(text) > 1 and text[0] == "0":
        raise VerificationError(f"{where}: not canonical: {value!r}")
    number = int(text)
    if number > MAX_U128:
        raise VerificationError(f"{where}: above 2^128 - 1")
    return number


def encode_sums(values: Sequence[int]) -> bytes:
    for v in values:
        if not 0 <= v <= MAX_U128:
            raise VerificationError(f"an amount outside 0..2^128-1: {v}")
    return b"".join(v.to_bytes(16, "big") for v in values)


def leaf_hash(salt: bytes, user_id: int, balances: Sequence[int]) -> bytes:
    if len(salt) != 32:
        raise VerificationError("a salt has 32 bytes")
    if not 0 <= user_id < 2**64:
        raise VerificationError("a user id is a u64")
    return hashlib.sha256(
        b"\x00" + salt + user_id.to_bytes(8, "big") + encode_sums(balances)
    ).digest()


def node_hash(
    left: bytes, left_sums: Sequence[int], right: bytes, right_sums: Sequence[int]
) -> bytes:
    return hashlib.sha256(
        b"\x01" + left + encode_sums(left_sums) + right + encode_sums(right_sums)
    ).digest()


def add_sums(a: Sequence[int], b: Sequence[int]) -> list[int]:
    out = [x + y for x, y in zip(a, b, strict=True)]
    if any(v > MAX_U128 for v in out):
        raise VerificationError("a sum above 2^128 - 1")
    return out


def path_sides(index: int, leaf_count: int) -> list[str]:
    """The sibling side at each step from leaf `index` up ("left"/"right"; levels where the
    node moves up alone have no step)."""
    if not 0 <= index < leaf_count:
        raise VerificationError(f"leaf index {index} outside 0..{leaf_count - 1}")
    sides: list[str] = []
    while leaf_count > 1:
        if index % 2:
            sides.append("left")
        elif index + 1 < leaf_count:
            sides.append("right")
        index //= 2
        leaf_count = (leaf_count + 1) // 2
    return sides


def _hex(value: Any, where: str, length: int | None = None) -> bytes:
    if not isinstance(value, str) or not value.startswith("0x"):
        raise VerificationError(f"{where}: not a 0x-prefixed hex string")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError:
        raise VerificationError(f"{where}: not hex") from None
    if length is not None and len(raw) != length:
        raise VerificationError(f"{where}: {len(raw)} bytes, expected {length}")
    return raw


def _per_asset(values: Any, assets: Sequence[str], where: str) -> list[int]:
    if not isinstance(values, Mapping) or set(values) != set(assets):
        raise VerificationError(f"{where}: must give exactly the assets {list(assets)}")
    return [amount(values[a], f"{where}.{a}") for a in assets]


def verify_inclusion(document: Mapping[str, Any], proof: Mapping[str, Any]) -> dict[str, Any]:
    """Check a user's inclusion proof against the published audit; returns what it shows."""
    assets = _assets(document)
    liabilities = document["liabilities"]
    root = _hex(liabilities["root"], "liabilities.root", 32)
    totals = _per_asset(liabilities["totals"], assets, "liabilities.totals")
    leaf_count = liabilities["leaf_count"]
    if proof.get("version") != VERSION:
        raise VerificationError(f"proof format version {proof.get('version')!r}, expected 1")
    if proof.get("audit_id") != document["audit_id"]:
        raise VerificationError("the proof is of another audit")
    if proof.get("root") != liabilities["root"] or list(proof.get("assets", [])) != assets:
        raise VerificationError("the proof names another root or other assets")
    if proof.get("leaf_count") != leaf_count:
        raise VerificationError("the proof names another leaf count")
    leaf = proof["leaf"]
    index, user_id = leaf["index"], leaf["user_id"]
    if not isinstance(index, int) or not isinstance(user_id, int):
        raise VerificationError("leaf index and user id are integers")
    balances = _per_asset(leaf["balances"], assets, "leaf.balances")
    current = leaf_hash(_hex(leaf["salt"], "leaf.salt", 32), user_id, balances)
    sums = balances
    path = proof["path"]
    sides = path_sides(index, leaf_count)
    if not isinstance(path, list) or [step.get("side") for step in path] != sides:
        raise VerificationError(
            f"the path's sides do not match leaf {index} of {leaf_count}: expected {sides}"
        )
    for i, step in enumerate(path):
        sibling = _hex(step["hash"], f"path[{i}].hash", 32)
        sibling_sums = _per_asset(step["sums"], assets, f"path[{i}].sums")
        if step["side"] == "left":
            current = node_hash(sibling, sibling_sums, current, sums)
        else:
            current = node_hash(current, sums, sibling, sibling_sums)
        sums = add_sums(sums, sibling_sums)
    if current != root:
        raise VerificationError("the leaf and its path do not lead to the published root")
    if sums != totals:
        raise VerificationError("the path's sums do not add up to the published totals")
    return {"user_id": user_id, "balances": dict(zip(assets, balances, strict=True))}


def _assets(document: Mapping[str, Any]) -> list[str]:
    if document.get("version") != VERSION:
        raise VerificationError(f"audit format version {document.get('version')!r}, expected 1")
    assets = document["assets"]
    if not isinstance(assets, list) or len(set(assets)) != len(assets):
        raise VerificationError("assets must be a list of distinct codes")
    return [str(a) for a in assets]


# --- SS58, hashing, SCALE ---------------------------------------------------------------------

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def ss58_decode(address: str) -> bytes:
    """The 32-byte account id of an SS58 address of prefix 42 (checksum checked)."""
    number = 0
    for ch in address:
        digit = _B58.find(ch)
        if digit < 0:
            raise VerificationError(f"not an SS58 address: {address!r}")
        number = number * 58 + digit
    raw = number.to_bytes(35, "big") if number < 1 << 280 else b""
    if len(raw) != 35 or raw[0] != SS58_PREFIX:
        raise VerificationError(f"not an SS58 address of prefix 42: {address!r}")
    checksum = hashlib.blake2b(b"SS58PRE" + raw[:33], digest_size=64).digest()[:2]
    if checksum != raw[33:]:
        raise VerificationError(f"bad SS58 checksum: {address!r}")
    return raw[1:33]


def blake2_256(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=32).digest()


def twox128(data: bytes) -> bytes:
    return b"".join(xxhash.xxh64(data, seed=s).intdigest().to_bytes(8, "little") for s in (0, 1))


def blake2_128_concat(data: bytes) -> bytes:
    return hashlib.blake2b(data, digest_size=16).digest() + data


def storage_key(pallet: str, item: str, *parts: bytes | int) -> bytes:
    """A storage key: account ids (bytes) Blake2_128Concat, netuids (int) u16 Identity."""
    key = twox128(pallet.encode()) + twox128(item.encode())
    for part in parts:
        key += blake2_128_concat(part) if isinstance(part, bytes) else part.to_bytes(2, "little")
    return key


def compact(value: int) -> bytes:
    if value < 1 << 6:
        return bytes([value << 2])
    if value < 1 << 14:
        return ((value << 2) | 1).to_bytes(2, "little")
    if value < 1 << 30:
        return ((value << 2) | 2).to_bytes(4, "little")
    raw = value.to_bytes((value.bit_length() + 7) // 8, "little")
    return bytes([((len(raw) - 4) << 2) | 3]) + raw


def _read_compact(data: bytes, offset: int) -> tuple[int, int]:
    if offset >= len(data):
        raise VerificationError("truncated compact integer")
    mode = data[offset] & 3
    if mode == 0:
        return data[offset] >> 2, offset + 1
    if mode == 1:
        return int.from_bytes(data[offset : offset + 2], "little") >> 2, offset + 2
    if mode == 2:
        return int.from_bytes(data[offset : offset + 4], "little") >> 2, offset + 4
    size = (data[offset] >> 2) + 4
    return int.from_bytes(data[offset + 1 : offset + 1 + size], "little"), offset + 1 + size


def header_hash(header: Mapping[str, Any]) -> bytes:
    """Blake2-256 of the SCALE-encoded header (`chain_getHeader`'s JSON)."""
    number = header["number"]
    number = int(number, 16) if isinstance(number, str) else int(number)
    logs = [_hex(log, "header.digest.logs[]") for log in header["digest"]["logs"]]
    encoded = (
        _hex(header["parentHash"], "header.parentHash", 32)
        + compact(number)
        + _hex(header["stateRoot"], "header.stateRoot", 32)
        + _hex(header["extrinsicsRoot"], "header.extrinsicsRoot", 32)
        + compact(len(logs))
        + b"".join(logs)
    )
    return blake2_256(encoded)


# --- Substrate's state trie: proof lookups ----------------------------------------------------


def _decode_node(data: bytes) -> tuple[str, bytes | None, bool, list[bytes | None] | None]:
    """(partial key as hex nibbles, value, value is a hash, children refs or None for a leaf)
    of an sp-trie node (NodeCodec, LayoutV1)."""
    if not data:
        raise VerificationError("an empty trie node")
    first = data[0]
    kind = first >> 6
    if kind == 1:
        leaf, has_value, hashed, mask = True, True, False, 2
    elif kind == 2:
        leaf, has_value, hashed, mask = False, False, False, 2
    elif kind == 3:
        leaf, has_value, hashed, mask = False, True, False, 2
    elif first >> 5 == 1:
        leaf, has_value, hashed, mask = True, True, True, 3
    elif first >> 4 == 1:
        leaf, has_value, hashed, mask = False, True, True, 4
    else:
        raise VerificationError(f"an unknown trie node header {first:#04x}")
    max_value = 255 >> mask
    count = first & max_value
    offset = 1
    if count == max_value:
        count -= 1
        while True:
            if offset >= len(data):
                raise VerificationError("a truncated trie node")
            n = data[offset]
            offset += 1
            if n < 255:
                count += n + 1
                break
            count += 255
    size = (count + 1) // 2
    raw = data[offset : offset + size]
    offset += size
    partial = raw.hex()[count % 2 :] if count else ""
    if count % 2 and raw and raw[0] >> 4:
        raise VerificationError("bad padding in a trie node's partial key")
    children: list[bytes | None] | None = None
    bitmap = 0
    if not leaf:
        bitmap = int.from_bytes(data[offset : offset + 2], "little")
        offset += 2
    value: bytes | None = None
    if has_value:
        if hashed:
            value = data[offset : offset + 32]
            offset += 32
        else:
            length, offset = _read_compact(data, offset)
            value = data[offset : offset + length]
            offset += length
    if not leaf:
        children = []
        for i in range(16):
            if bitmap >> i & 1:
                length, offset = _read_compact(data, offset)
                children.append(data[offset : offset + length])
                offset += length
            else:
                children.append(None)
    if offset != len(data):
        raise VerificationError("a trie node with trailing or missing bytes")
    return partial, value, hashed, children


def trie_lookup(state_root: bytes, proof: Iterable[bytes], key: bytes) -> bytes | None:
    """The value of `key` under `state_root` as the proof nodes show it (None: proven absent).
    Raises if the proof lacks a node the lookup needs."""
    nodes = {blake2_256(node): node for node in proof}
    rest = key.hex()
    data = nodes.get(state_root)
    if data is None:
        raise VerificationError("the read proof lacks the root node")
    if data == b"\x00":  # the empty trie
        return None
    while True:
        partial, value, hashed, children = _decode_node(data)
        if not rest.startswith(partial):
            return None
        rest = rest[len(partial) :]
        if not rest:
            if value is not None and hashed:
                found = nodes.get(value)
                if found is None:
                    raise VerificationError("the read proof lacks a value node")
                return found
            return value
        if children is None:
            return None
        child = children[int(rest[0], 16)]
        rest = rest[1:]
        if child is None:
            return None
        if len(child) == 32:
            data = nodes.get(child)
            if data is None:
                raise VerificationError("the read proof lacks a node on a key's path")
        else:
            data = child


# --- reserves ---------------------------------------------------------------------------------

M = "SubtensorModule"


def _u(value: bytes | None, size: int, where: str) -> int:
    if value is None:
        return 0
    if len(value) != size:
        raise VerificationError(f"{where}: {len(value)} bytes, expected {size}")
    return int.from_bytes(value, "little")


def _safe_float(value: bytes | None, where: str) -> Fraction | None:
    """A SafeFloat (u128 mantissa, i64 exponent) with a non-zero mantissa, else None."""
    if value is None:
        return None
    if len(value) != 24:
        raise VerificationError(f"{where}: {len(value)} bytes, expected 24")
    mantissa = int.from_bytes(value[:16], "little")
    exponent = int.from_bytes(value[16:], "little", signed=True)
    if not mantissa:
        return None
    return Fraction(mantissa) * Fraction(10) ** exponent


def _shares(v2: bytes | None, legacy: bytes | None, where: str) -> Fraction:
    found = _safe_float(v2, where + " (V2)")
    if found is not None:
        return found
    return Fraction(_u(legacy, 16, where), 2**64)


@dataclass
class Report:
    """What was checked, line by line."""

    lines: list[str] = field(default_factory=list)

    def ok(self, line: str) -> None:
        self.lines.append("OK   " + line)


def _storage_map(reserves: Mapping[str, Any]) -> dict[bytes, bytes | None]:
    out: dict[bytes, bytes | None] = {}
    for i, entry in enumerate(reserves["storage"]):
        key = _hex(entry["key"], f"storage[{i}].key")
        value = entry["value"]
        out[key] = None if value is None else _hex(value, f"storage[{i}].value")
    return out


def verify_reserves(document: Mapping[str, Any], report: Report | None = None) -> dict[str, int]:
    """Check the reserves against the evidence the document carries (no network): the header
    is the block's, the values are proven by the read proof (when given), and every account,
    position and total follows from them. Returns the reserves per asset."""
    report = report if report is not None else Report()
    assets = _assets(document)
    block = document["block"]
    reserves = document["reserves"]
    header = reserves["header"]
    block_hash = _hex(block["hash"], "block.hash", 32)
    if header_hash(header) != block_hash:
        raise VerificationError("the header is not the audited block's (its hash differs)")
    number = header["number"]
    if (int(number, 16) if isinstance(number, str) else int(number)) != block["number"]:
        raise VerificationError("the header's number is not the audited block's")
    report.ok(f"header of block {block['number']} hashes to {block['hash']}")
    storage = _storage_map(reserves)
    proof = reserves.get("read_proof")
    if proof is not None:
        state_root = _hex(header["stateRoot"], "header.stateRoot", 32)
        nodes = [_hex(n, "read_proof[]") for n in proof]
        for key, proven in storage.items():
            if trie_lookup(state_root, nodes, key) != proven:
                raise VerificationError(f"the proof does not show the value of 0x{key.hex()}")
        report.ok(f"{len(storage)} storage values proven against state root {header['stateRoot']}")
    else:
        report.lines.append("--   no read proof: check the storage values with --chain")

    def entry(key: bytes, what: str) -> bytes | None:
        if key not in storage:
            raise VerificationError(f"the evidence lacks {what} (0x{key.hex()})")
        return storage[key]

    totals: dict[str, int] = {a: 0 for a in assets}
    for i, account in enumerate(reserves["accounts"]):
        who = ss58_decode(account["address"])
        info = entry(storage_key("System", "Account", who), f"the account of {account['address']}")
        free = 0 if info is None else _u(info[16:24], 8, "AccountInfo.data.free")
        if free != amount(account["free"], f"accounts[{i}].free"):
            raise VerificationError(f"accounts[{i}]: free TAO is {free}, not {account['free']}")
        totals["TAO"] = totals.get("TAO", 0) + free
    for i, pos in enumerate(reserves["positions"]):
        cold, hot, netuid = ss58_decode(pos["coldkey"]), ss58_decode(pos["hotkey"]), pos["netuid"]
        if not isinstance(netuid, int) or not 0 <= netuid < 2**16:
            raise VerificationError(f"positions[{i}]: bad netuid")
        where = f"positions[{i}]"
        total_alpha = _u(entry(storage_key(M, "TotalHotkeyAlpha", hot, netuid), where), 8, where)
        total = _shares(
            entry(storage_key(M, "TotalHotkeySharesV2", hot, netuid), where),
            entry(storage_key(M, "TotalHotkeyShares", hot, netuid), where),
            where,
        )
        shares = _shares(
            entry(storage_key(M, "AlphaV2", hot, cold, netuid), where),
            entry(storage_key(M, "Alpha", hot, cold, netuid), where),
            where,
        )
        alpha = int(total_alpha * shares / total) if shares and total else 0
        if alpha != amount(pos["alpha"], f"{where}.alpha"):
            raise VerificationError(f"{where}: the stake is {alpha}, not {pos['alpha']}")
        registered = _u(entry(storage_key(M, "NetworkRegisteredAt", netuid), where), 8, where)
        if registered != pos["registered_at"]:
            raise VerificationError(f"{where}: subnet {netuid} was registered at {registered}")
        asset = pos["asset"]
        if asset not in totals or asset == "TAO":
            raise VerificationError(f"{where}: asset {asset!r} is not an alpha of the audit")
        totals[asset] += alpha
    claimed = _per_asset(reserves["totals"], assets, "reserves.totals")
    if claimed != [totals[a] for a in assets]:
        raise VerificationError(
            f"reserves.totals do not add up: computed {totals}, published {reserves['totals']}"
        )
    report.ok(
        f"{len(reserves['accounts'])} accounts and {len(reserves['positions'])} stake "
        "positions recomputed from the chain's values; totals add up"
    )
    return totals


def ratio_text(reserves: int, liabilities: int) -> str | None:
    if liabilities == 0:
        return None
    scaled = reserves * 10**RATIO_DECIMALS // liabilities
    return f"{scaled // 10**RATIO_DECIMALS}.{scaled % 10**RATIO_DECIMALS:0{RATIO_DECIMALS}d}"


def verify_coverage(
    document: Mapping[str, Any], reserves: Mapping[str, int], report: Report | None = None
) -> list[dict[str, Any]]:
    report = report if report is not None else Report()
    assets = _assets(document)
    liabilities = dict(
        zip(assets, _per_asset(document["liabilities"]["totals"], assets, "totals"), strict=True)
    )
    rows = {row["asset"]: row for row in document["coverage"]}
    if set(rows) != set(assets):
        raise VerificationError("coverage must have one row per asset")
    out = []
    for a in assets:
        row, owed, held = rows[a], liabilities[a], reserves[a]
        expected = {
            "liabilities": str(owed),
            "reserves": str(held),
            "ratio": ratio_text(held, owed),
            "covered": held >= owed,
            "shortfall": str(max(0, owed - held)),
        }
        for name, want in expected.items():
            if row.get(name) != want:
                raise VerificationError(f"coverage of {a}: {name} is {row.get(name)!r}, not {want}")
        out.append(dict(row))
    report.ok("coverage ratios follow from the liabilities and the reserves")
    return out


def ownership_message(document: Mapping[str, Any], address: str) -> str:
    block = document["block"]
    return "\n".join(
        (
            MESSAGE_HEADER,
            f"audit {document['audit_id']} at block {block['number']} {block['hash']}",
            f"liabilities root {document['liabilities']['root']}",
            f"account {address}",
        )
    )


def verify_ownership(document: Mapping[str, Any], report: Report | None = None) -> None:
    """Every account holding reserves signed the message naming this audit."""
    report = report if report is not None else Report()
    signed: set[str] = set()
    for i, entry in enumerate(document["ownership"]["signatures"]):
        address = entry["address"]
        message = ownership_message(document, address)
        if entry.get("message") != message:
            raise VerificationError(f"signatures[{i}]: the message is not this audit's")
        signature = _hex(entry["signature"], f"signatures[{i}].signature", 64)
        try:
            valid = sr25519.verify(signature, message.encode(), ss58_decode(address))
        except ValueError:
            valid = False
        if not valid:
            raise VerificationError(f"signatures[{i}]: not a valid signature of {address}")
        signed.add(address)
    holders = {a["address"] for a in document["reserves"]["accounts"]}
    holders |= {p["coldkey"] for p in document["reserves"]["positions"]}
    missing = sorted(holders - signed)
    if missing:
        raise VerificationError(f"accounts without a signature: {', '.join(missing)}")
    report.ok(f"{len(signed)} custody accounts signed this audit (sr25519)")


def verify_document(document: Mapping[str, Any], report: Report | None = None) -> dict[str, int]:
    """Everything the document shows by itself: reserves, coverage, ownership."""
    report = report if report is not None else Report()
    reserves = verify_reserves(document, report)
    verify_coverage(document, reserves, report)
    verify_ownership(document, report)
    return reserves


# --- against a node ---------------------------------------------------------------------------


def verify_on_chain(document: Mapping[str, Any], url: str, report: Report | None = None) -> None:
    """Ask a node: the block is the finalized chain's at that number, its header is the one
    published, and the storage values are the chain's (proven again when the node can)."""
    from substrateinterface import SubstrateInterface  # only this check needs a node

    report = report if report is not None else Report()
    block = document["block"]
    reserves = document["reserves"]
    with SubstrateInterface(url=url, ss58_format=SS58_PREFIX) as node:

        def call(method: str, params: list[Any]) -> Any:
            response = node.rpc_request(method, params)
            if "error" in response:
                raise VerificationError(f"{method}: the node answered {response['error']}")
            return response["result"]

        if call("chain_getBlockHash", [block["number"]]) != block["hash"]:
            raise VerificationError(f"block {block['number']} of this chain is not {block['hash']}")
        finalized = call("chain_getHeader", [call("chain_getFinalizedHead", [])])
        if int(finalized["number"], 16) < block["number"]:
            raise VerificationError("the audited block is not finalized yet")
        header = call("chain_getHeader", [block["hash"]])
        if header_hash(header) != header_hash(reserves["header"]):
            raise VerificationError("the node's header of the block differs from the published one")
        report.ok(f"the node has block {block['number']} {block['hash']}, finalized")
        keys = [entry["key"] for entry in reserves["storage"]]
        published = _storage_map(reserves)
        result = call("state_queryStorageAt", [keys, block["hash"]])
        found: dict[str, str | None] = {}
        for group in result:
            for key, value in group["changes"]:
                found[key] = value
        for key in keys:
            value = found.get(key)
            if (None if value is None else bytes.fromhex(value[2:])) != published[
                bytes.fromhex(key[2:])
            ]:
                raise VerificationError(f"the node's value of {key} differs from the published one")
        report.ok(f"the node's {len(keys)} storage values are the published ones")
        methods = call("rpc_methods", [])
        if "state_getReadProof" in methods.get("methods", []):
            fresh = call("state_getReadProof", [keys, block["hash"]])
            state_root = _hex(header["stateRoot"], "stateRoot", 32)
            nodes = [_hex(n, "proof[]") for n in fresh["proof"]]
            for key in keys:
                raw = bytes.fromhex(key[2:])
                if trie_lookup(state_root, nodes, raw) != published[raw]:
                    raise VerificationError(f"the node's read proof of {key} differs")
            report.ok("the node's own read proof proves them against the state root")


# --- command line -----------------------------------------------------------------------------


def load(source: str) -> Any:
    """JSON from a file, `-` (stdin) or an http(s) URL."""
    if source == "-":
        return json.load(sys.stdin)
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=30) as response:
            return json.load(response)
    with open(source, encoding="utf-8") as f:
        return json.load(f)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="por-verify", description="Verify the exchange's proof of reserves (format 1)."
    )
    parser.add_argument("--audit", required=True, help="the audit document: file, URL or -")
    parser.add_argument("--proof", help="your inclusion proof (GET /v1/proof-of-reserves/proof)")
    parser.add_argument("--chain", help="a node's WebSocket URL: check the reserves against it")
    args = parser.parse_args(argv)
    report = Report()
    try:
        document = load(args.audit)
        if args.proof:
            shown = verify_inclusion(document, load(args.proof))
            balances = ", ".join(f"{a} {v}" for a, v in shown["balances"].items())
            report.ok(
                f"user {shown['user_id']} is in the liabilities (root "
                f"{document['liabilities']['root']}) with {balances}"
            )
        verify_document(document, report)
        if args.chain:
            verify_on_chain(document, args.chain, report)
    except VerificationError as exc:
        print("\n".join(report.lines))
        print(f"FAIL {exc}")
        return 1
    except (KeyError, TypeError, ValueError) as exc:
        print("\n".join(report.lines))
        print(f"FAIL malformed input: {exc!r}")
        return 1
    print("\n".join(report.lines))
    for row in document["coverage"]:
        ratio = row["ratio"] if row["ratio"] is not None else "-"
        line = f"{row['asset']:8} liabilities {row['liabilities']:>22} "
        line += f"reserves {row['reserves']:>22} ratio {ratio}"
        print(line + ("" if row["covered"] else f"  SHORT: {row['reason']}"))
    print("proof of reserves: verified")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
