"""Substrate's state trie, as a node computes it: the root in each block's header and the read
proofs `state_getReadProof` serves.

The layout is sp-trie's `LayoutV1` with Blake2-256: a base-16 Patricia trie without extension
nodes (branches carry a partial key), nodes encoded by sp-trie's `NodeCodec`:

- header: the node kind in the top bits of the first byte, then the partial key's nibble count
  in the remaining bits (continued in further bytes when it does not fit): leaf `01`, branch
  without value `10`, branch with value `11`, leaf with a hashed value `001`, branch with a
  hashed value `0001`; the empty trie is the single byte `0x00`;
- the partial key, two nibbles a byte (an odd count puts the first nibble alone, low bits);
- a branch: its children bitmap (u16, little-endian: bit i for child nibble i);
- the value: SCALE `Vec<u8>` (compact length + bytes) when shorter than 33 bytes, else its
  Blake2-256 hash (the value itself is then a separate node of the proof);
- a branch's children, each as SCALE `Vec<u8>`: the child's encoding when shorter than 32
  bytes (inline), else its hash.

The root is the Blake2-256 hash of the root node's encoding (`blake2_256(0x00)` when empty).

Nodes are immutable and shared between blocks: `update` rebuilds only the paths of the keys
a block changed, so the kept history costs little and a block's root takes time in proportion
to what it changed. Keys are handled as hex strings: one character per nibble.
"""

from collections.abc import Iterable, Sequence

from app.chain import codec

VALUE_NODE_THRESHOLD = 33  # values at least this long are stored by hash (sp-core's threshold)
HASH_LENGTH = 32
EMPTY_NODE = b"\x00"
EMPTY_ROOT = codec.blake2_256(EMPTY_NODE)

_LEAF = (0x40, 2)
_LEAF_HASHED = (0x20, 3)
_BRANCH = (0x80, 2)
_BRANCH_VALUE = (0xC0, 2)
_BRANCH_HASHED = (0x10, 4)
_NIBBLES = "0123456789abcdef"


class Node:
    """A leaf (`children is None`) or a branch (16 children, some None; a value or not)."""

    __slots__ = ("_encoded", "_ref", "children", "partial", "value")

    def __init__(
        self,
        partial: str,
        value: bytes | None,
        children: tuple["Node | None", ...] | None = None,
    ) -> None:
        self.partial = partial
        self.value = value
        self.children = children
        self._encoded: bytes | None = None
        self._ref: bytes | None = None

    @property
    def encoded(self) -> bytes:
        if self._encoded is None:
            self._encoded = _encode(self)
        return self._encoded

    @property
    def ref(self) -> bytes:
        """How a parent refers to this node: inline below 32 bytes, else by hash."""
        if self._ref is None:
            encoded = self.encoded
            self._ref = encoded if len(encoded) < HASH_LENGTH else codec.blake2_256(encoded)
        return self._ref

    @property
    def stored(self) -> bool:
        """Whether this node is a node of its own in the database (and so of a proof)."""
        return len(self.encoded) >= HASH_LENGTH


def root_hash(root: Node | None) -> bytes:
    return EMPTY_ROOT if root is None else codec.blake2_256(root.encoded)


def nibbles(key: bytes) -> str:
    return key.hex()


# --- encoding ---------------------------------------------------------------------------------


def _header(kind: tuple[int, int], count: int) -> bytes:
    prefix, mask_bits = kind
    max_value = 255 >> mask_bits
    if count < max_value:
        return bytes([prefix + count])
    out = bytearray([prefix + max_value])
    rest = count - (max_value - 1)
    while rest >= 256:
        out.append(255)
        rest -= 255
    out.append(rest - 1)
    return bytes(out)


def _partial(partial: str) -> bytes:
    if len(partial) % 2:
        return bytes([int(partial[0], 16)]) + bytes.fromhex(partial[1:])
    return bytes.fromhex(partial)


def _encode(node: Node) -> bytes:
    value = node.value
    hashed = value is not None and len(value) >= VALUE_NODE_THRESHOLD
    if node.children is None:
        assert value is not None
        kind = _LEAF_HASHED if hashed else _LEAF
    elif value is None:
        kind = _BRANCH
    else:
        kind = _BRANCH_HASHED if hashed else _BRANCH_VALUE
    out = bytearray(_header(kind, len(node.partial)))
    out += _partial(node.partial)
    if node.children is not None:
        bitmap = 0
        for i, child in enumerate(node.children):
            if child is not None:
                bitmap |= 1 << i
        out += bitmap.to_bytes(2, "little")
    if value is not None:
        out += codec.blake2_256(value) if hashed else codec.compact(len(value)) + value
    if node.children is not None:
        for child in node.children:
            if child is not None:
                ref = child.ref
                out += codec.compact(len(ref)) + ref
    return bytes(out)


# --- building and updating --------------------------------------------------------------------


def build(items: Iterable[tuple[bytes, bytes]]) -> Node | None:
    """The trie of `items` (key, value), from nothing."""
    return _build(sorted((nibbles(k), v) for k, v in items))


def update(root: Node | None, changes: Iterable[tuple[bytes, bytes | None]]) -> Node | None:
    """`root` with `changes` applied (a None value deletes); nodes off their paths are shared."""
    latest = {nibbles(k): v for k, v in changes}  # the last change of a key wins
    return _update(root, sorted(latest.items()))


def _common(a: str, b: str) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def _build(items: Sequence[tuple[str, bytes]]) -> Node | None:
    """A trie of sorted (nibbles, value) pairs, relative to the position it hangs at."""
    if not items:
        return None
    if len(items) == 1:
        return Node(items[0][0], items[0][1])
    prefix = items[0][0][: _common(items[0][0], items[-1][0])]
    cut = len(prefix)
    value = None
    groups: list[list[tuple[str, bytes]]] = [[] for _ in range(16)]
    for key, v in items:
        if len(key) == cut:
            value = v
        else:
            groups[int(key[cut], 16)].append((key[cut + 1 :], v))
    return Node(prefix, value, tuple(_build(g) for g in groups))


def _normalized(partial: str, children: list[Node | None], value: bytes | None) -> Node | None:
    """A branch as the trie keeps it: none without content, a leaf without children, merged
    into its only child when it has no value."""
    present = [i for i, c in enumerate(children) if c is not None]
    if not present:
        return None if value is None else Node(partial, value)
    if len(present) == 1 and value is None:
        i = present[0]
        child = children[i]
        assert child is not None
        return Node(partial + _NIBBLES[i] + child.partial, child.value, child.children)
    return Node(partial, value, tuple(children))


def _update(node: Node | None, changes: Sequence[tuple[str, bytes | None]]) -> Node | None:
    if not changes:
        return node
    if node is None:
        return _build([(k, v) for k, v in changes if v is not None])
    if node.children is None:  # a leaf: rebuild it with the changes
        merged: dict[str, bytes | None] = {node.partial: node.value}
        merged.update(changes)
        return _build(sorted((k, v) for k, v in merged.items() if v is not None))
    partial = node.partial
    # Sorted keys: the first or the last parts from the partial key soonest.
    shared = min(_common(partial, changes[0][0]), _common(partial, changes[-1][0]))
    if shared < len(partial):
        # A change leaves this branch's partial key: split it above the point where they part.
        lower = Node(partial[shared + 1 :], node.value, node.children)
        children: list[Node | None] = [None] * 16
        children[int(partial[shared], 16)] = lower
        node = Node(partial[:shared], None, tuple(children))
        partial = node.partial
    value = node.value
    children = list(node.children or ())
    groups: dict[int, list[tuple[str, bytes | None]]] = {}
    cut = len(partial)
    for key, v in changes:
        if len(key) == cut:
            value = v
        else:
            groups.setdefault(int(key[cut], 16), []).append((key[cut + 1 :], v))
    for i, group in groups.items():
        children[i] = _update(children[i], group)
    return _normalized(partial, children, value)


# --- proofs -----------------------------------------------------------------------------------


def read_proof(root: Node | None, keys: Iterable[bytes]) -> list[bytes]:
    """The trie nodes (and hashed values) a reader of `keys` needs from the root down, present
    or not: what `state_getReadProof` answers (sorted, each once)."""
    out: set[bytes] = set()
    if root is None:
        return [EMPTY_NODE]
    out.add(root.encoded)
    for key in keys:
        rest = nibbles(key)
        node: Node | None = root
        while node is not None:
            if not rest.startswith(node.partial):
                break
            rest = rest[len(node.partial) :]
            if not rest:
                if node.value is not None and len(node.value) >= VALUE_NODE_THRESHOLD:
                    out.add(node.value)
                break
            if node.children is None:
                break
            node = node.children[int(rest[0], 16)]
            rest = rest[1:]
            if node is not None and node.stored:
                out.add(node.encoded)
    return sorted(out)
