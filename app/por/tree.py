"""The liabilities' Merkle sum tree: built from the users' balances, and the path of a leaf.

The format (leaf and node hashing, the order of leaves, odd nodes moving up) is the
verifier's: `app/por/verifier.py` defines it and this module builds with its functions, so
what the exchange publishes is by construction what a verifier checks. Pure: no I/O.
"""

import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from app.por.verifier import add_sums, leaf_hash, node_hash

SALT_BYTES = 32
Side = Literal["left", "right"]  # where the sibling is


@dataclass(frozen=True, slots=True)
class Leaf:
    user_id: int
    salt: bytes
    balances: tuple[int, ...]  # per asset, in the audit's asset order

    @property
    def hash(self) -> bytes:
        return leaf_hash(self.salt, self.user_id, self.balances)


@dataclass(frozen=True, slots=True)
class TreeNode:
    hash: bytes
    sums: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PathStep:
    side: Side
    hash: bytes
    sums: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SumTree:
    """`levels[0]` are the leaves (sorted by hash), `levels[-1]` the root alone."""

    leaves: list[Leaf]
    levels: list[list[TreeNode]]

    @property
    def root(self) -> TreeNode:
        return self.levels[-1][0]

    def path(self, index: int) -> list[PathStep]:
        return path_of(index, lambda lv, pos: self.levels[lv][pos], len(self.leaves))


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def build(leaves: Sequence[Leaf]) -> SumTree:
    """Leaves sorted by their hash; each level pairs (0,1), (2,3), ...; an odd last node moves
    up unchanged. Refuses an empty tree and negative balances (the ledger has none)."""
    if not leaves:
        raise ValueError("a sum tree needs at least one leaf")
    if any(v < 0 for leaf in leaves for v in leaf.balances):
        raise ValueError("a negative balance cannot be in the tree")
    ordered = sorted(leaves, key=lambda leaf: leaf.hash)
    level = [TreeNode(leaf.hash, leaf.balances) for leaf in ordered]
    levels = [level]
    while len(level) > 1:
        above = []
        for i in range(0, len(level) - 1, 2):
            left, right = level[i], level[i + 1]
            above.append(
                TreeNode(
                    node_hash(left.hash, left.sums, right.hash, right.sums),
                    tuple(add_sums(left.sums, right.sums)),
                )
            )
        if len(level) % 2:
            above.append(level[-1])
        levels.append(above)
        level = above
    return SumTree(ordered, levels)


def path_positions(index: int, leaf_count: int) -> list[tuple[int, int, Side]]:
    """(level, position, side) of each sibling on leaf `index`'s path to the root."""
    out: list[tuple[int, int, Side]] = []
    level = 0
    while leaf_count > 1:
        if index % 2:
            out.append((level, index - 1, "left"))
        elif index + 1 < leaf_count:
            out.append((level, index + 1, "right"))
        index //= 2
        leaf_count = (leaf_count + 1) // 2
        level += 1
    return out


def path_of(index: int, node_at: Callable[[int, int], TreeNode], leaf_count: int) -> list[PathStep]:
    """The path of leaf `index`, its siblings read with `node_at(level, position)` (from the
    tree in memory, or from the stored rows)."""
    steps = []
    for level, position, side in path_positions(index, leaf_count):
        node = node_at(level, position)
        steps.append(PathStep(side, node.hash, node.sums))
    return steps


def encode_sums(sums: Sequence[int]) -> bytes:
    """As the tree hashes them (and as `por_nodes.sums` stores them): u128 big-endian each."""
    return b"".join(v.to_bytes(16, "big") for v in sums)


def decode_sums(raw: bytes) -> tuple[int, ...]:
    return tuple(int.from_bytes(raw[i : i + 16], "big") for i in range(0, len(raw), 16))
