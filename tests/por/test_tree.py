"""The liabilities' Merkle sum tree (pure): every leaf's path verifies against the root and
the totals; changing any balance, sum, salt, hash, side or position breaks it; the format is
the one the verifier documents (a known answer computed here with hashlib alone)."""

import copy
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.por import tree
from app.por.verifier import VerificationError, path_sides, verify_inclusion

ASSETS = ["TAO", "SN1", "SN7"]


def make(balances: list[tuple[int, ...]]) -> tree.SumTree:
    return tree.build(
        [tree.Leaf(i + 1, hashlib.sha256(bytes([i])).digest(), b) for i, b in enumerate(balances)]
    )


def document_of(t: tree.SumTree, assets: list[str] = ASSETS) -> dict[str, Any]:
    return {
        "version": 1,
        "audit_id": 3,
        "assets": assets,
        "liabilities": {
            "root": "0x" + t.root.hash.hex(),
            "leaf_count": len(t.leaves),
            "totals": {a: str(v) for a, v in zip(assets, t.root.sums, strict=True)},
        },
    }


def proof_of(t: tree.SumTree, index: int, assets: list[str] = ASSETS) -> dict[str, Any]:
    leaf = t.leaves[index]

    def per_asset(values: tuple[int, ...]) -> dict[str, str]:
        return {a: str(v) for a, v in zip(assets, values, strict=True)}

    return {
        "version": 1,
        "audit_id": 3,
        "root": "0x" + t.root.hash.hex(),
        "assets": assets,
        "leaf_count": len(t.leaves),
        "leaf": {
            "index": index,
            "user_id": leaf.user_id,
            "salt": "0x" + leaf.salt.hex(),
            "balances": per_asset(leaf.balances),
        },
        "path": [
            {"side": s.side, "hash": "0x" + s.hash.hex(), "sums": per_asset(s.sums)}
            for s in t.path(index)
        ],
    }


balance = st.integers(min_value=0, max_value=10**20)
books = st.lists(st.tuples(balance, balance, balance), min_size=1, max_size=40)


@settings(max_examples=60, deadline=None)
@given(books)
def test_every_leaf_verifies_and_the_root_sums_every_balance(
    balances: list[tuple[int, ...]],
) -> None:
    t = make(balances)
    assert list(t.root.sums) == [sum(b[i] for b in balances) for i in range(3)]
    document = document_of(t)
    for index, leaf in enumerate(t.leaves):
        shown = verify_inclusion(document, proof_of(t, index))
        assert shown["user_id"] == leaf.user_id
        assert list(shown["balances"].values()) == list(leaf.balances)


def _tamper(proof: dict[str, Any], kind: str, pick: int) -> bool:
    """Change one thing of `kind` (False if the proof has nothing of that kind)."""
    leaf, path = proof["leaf"], proof["path"]
    if kind == "balance":
        asset = ASSETS[pick % 3]
        leaf["balances"][asset] = str(int(leaf["balances"][asset]) + 1)
    elif kind == "less":
        asset = next((a for a in ASSETS if leaf["balances"][a] != "0"), None)
        if asset is None:
            return False
        leaf["balances"][asset] = str(int(leaf["balances"][asset]) - 1)
    elif kind == "salt":
        salt = bytearray.fromhex(leaf["salt"][2:])
        salt[pick % 32] ^= 1
        leaf["salt"] = "0x" + salt.hex()
    elif kind == "user":
        leaf["user_id"] += 1
    elif kind == "index":
        if proof["leaf_count"] < 2:
            return False
        leaf["index"] = (leaf["index"] + 1 + pick % (proof["leaf_count"] - 1)) % proof["leaf_count"]
    elif not path:
        return False
    else:
        step = path[pick % len(path)]
        if kind == "sum":
            asset = ASSETS[pick % 3]
            step["sums"][asset] = str(int(step["sums"][asset]) + 1)
        elif kind == "negative":
            step["sums"][ASSETS[pick % 3]] = "-1"
        elif kind == "hash":
            raw = bytearray.fromhex(step["hash"][2:])
            raw[pick % 32] ^= 0x80
            step["hash"] = "0x" + raw.hex()
        elif kind == "side":
            step["side"] = "left" if step["side"] == "right" else "right"
        elif kind == "drop":
            path.remove(step)
    return True


KINDS = ["balance", "less", "salt", "user", "index", "sum", "negative", "hash", "side", "drop"]


@settings(max_examples=200, deadline=None)
@given(books, st.integers(min_value=0, max_value=10**6), st.sampled_from(KINDS))
def test_changing_anything_breaks_the_proof(
    balances: list[tuple[int, ...]], pick: int, kind: str
) -> None:
    t = make(balances)
    index = pick % len(t.leaves)
    proof = proof_of(t, index)
    if not _tamper(proof, kind, pick):
        return
    with pytest.raises(VerificationError):
        verify_inclusion(document_of(t), proof)


def test_a_published_root_or_total_that_differs_breaks_every_proof() -> None:
    t = make([(5, 0, 1), (7, 2, 0), (0, 0, 9)])
    proof = proof_of(t, 1)
    for change in ("root", "total"):
        document = copy.deepcopy(document_of(t))
        if change == "root":
            document["liabilities"]["root"] = "0x" + bytes(32).hex()
            proof["root"] = document["liabilities"]["root"]
        else:
            document["liabilities"]["totals"]["SN1"] = "3"
        with pytest.raises(VerificationError):
            verify_inclusion(document, proof)


def test_a_negative_balance_cannot_enter_the_tree() -> None:
    with pytest.raises(ValueError):
        tree.build([tree.Leaf(1, bytes(32), (5, -1, 0))])
    t = make([(5, 1, 0), (1, 1, 1)])
    proof = proof_of(t, 0)
    proof["leaf"]["balances"]["SN1"] = "-1"
    with pytest.raises(VerificationError):
        verify_inclusion(document_of(t), proof)


def test_the_format_is_the_documented_one() -> None:
    """Two users, one asset: leaves and root by the README's definition, with hashlib alone."""
    a_salt, b_salt = bytes([1]) * 32, bytes([2]) * 32
    t = tree.build([tree.Leaf(7, a_salt, (100,)), tree.Leaf(9, b_salt, (5,))])

    def leaf(salt: bytes, user: int, amount: int) -> bytes:
        return hashlib.sha256(
            b"\x00" + salt + user.to_bytes(8, "big") + amount.to_bytes(16, "big")
        ).digest()

    a, b = leaf(a_salt, 7, 100), leaf(b_salt, 9, 5)
    (left, ls), (right, rs) = sorted([(a, 100), (b, 5)])
    expected = hashlib.sha256(
        b"\x01" + left + ls.to_bytes(16, "big") + right + rs.to_bytes(16, "big")
    ).digest()
    assert t.root.hash == expected and t.root.sums == (105,)


@given(st.integers(min_value=1, max_value=300), st.data())
def test_path_sides_match_the_tree(leaf_count: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=leaf_count - 1))
    assert [s for _, _, s in tree.path_positions(index, leaf_count)] == path_sides(
        index, leaf_count
    )


def test_sums_round_trip_through_storage() -> None:
    sums = (0, 1, 2**128 - 1)
    assert tree.decode_sums(tree.encode_sums(sums)) == sums
