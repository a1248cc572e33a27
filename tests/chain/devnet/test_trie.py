"""The devnet's state trie is Substrate's: sp-trie's own encoding vectors, roots that do not
depend on the order of updates, read proofs that an independent reader (the proof-of-reserves
verifier) checks, and headers whose state root proves what `state_getStorage` serves."""

from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from substrateinterface import Keypair, SubstrateInterface

from app.chain import codec
from app.chain.devnet import trie
from app.chain.devnet.server import DevnetThread
from app.por.verifier import (
    VerificationError,
    header_hash,
    ss58_decode,
    storage_key,
    trie_lookup,
)
from tests.conftest import fast_devnet

# blake2_256(0x00): every Substrate chain's root of an empty state.
EMPTY_ROOT = "03170a2e7597b7b7e3d84c05391d139a62b157e78786d8c082f29dcf4c111314"


def test_empty_trie_root_is_substrates() -> None:
    assert trie.root_hash(None).hex() == EMPTY_ROOT
    assert trie.root_hash(trie.build([])).hex() == EMPTY_ROOT


def test_sp_trie_codec_vectors() -> None:
    """sp-trie's `codec_trie_single_tuple` and `codec_trie_two_tuples_disjoint_keys`."""
    single = trie.build([(b"\xaa", b"\xbb")])
    assert single is not None and single.encoded == bytes([0x42, 0xAA, 0x04, 0xBB])
    two = trie.build([(b"\x48\x19", b"\xfe"), (b"\x13\x14", b"\xff")])
    assert two is not None
    assert two.encoded == bytes(
        [
            *(0x80, 0x12, 0x00),  # branch without value or partial key; children 1 and 4
            *(0x14, 0x43, 0x03, 0x14, 0x04, 0xFF),  # inline leaf of 3 nibbles (odd: padded)
            *(0x14, 0x43, 0x08, 0x19, 0x04, 0xFE),
        ]
    )


def test_long_partial_keys_and_hashed_values_encode_as_sp_trie() -> None:
    """A 64-nibble key overflows the leaf header's 6 bits (63, then 1 - 1 = 0); a value of 33
    bytes or more is stored by hash under the hashed-value header (0b001)."""
    key = bytes(range(32))
    leaf = trie.build([(key, b"\x01" * 33)])
    assert leaf is not None
    assert leaf.encoded[:2] == bytes([0x20 | 31, 64 - 30 - 1])  # 5 bits: 31, then the rest
    assert leaf.encoded[2:34] == key
    assert leaf.encoded[34:] == codec.blake2_256(b"\x01" * 33)
    short = trie.build([(key, b"\x02")])
    assert short is not None and short.encoded[:2] == bytes([0x40 | 63, 64 - 62 - 1])


keys = st.binary(min_size=0, max_size=4)
values = st.binary(min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(keys, values, max_size=30),
    st.lists(st.tuples(keys, st.one_of(st.none(), values)), max_size=30),
)
def test_updates_give_the_root_of_a_trie_built_from_scratch(
    start: dict[bytes, bytes], changes: list[tuple[bytes, bytes | None]]
) -> None:
    """Any order of inserts, overwrites and deletes ends at the root of the resulting map."""
    root = trie.build(start.items())
    expected = dict(start)
    for key, value in changes:
        if value is None:
            expected.pop(key, None)
        else:
            expected[key] = value
    updated = trie.update(root, changes)
    assert trie.root_hash(updated) == trie.root_hash(trie.build(expected.items()))
    # One change at a time, too (deletes of absent keys included).
    for key, value in changes:
        root = trie.update(root, [(key, value)])
    assert trie.root_hash(root) == trie.root_hash(updated)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(keys, values, max_size=40), st.lists(keys, max_size=10))
def test_read_proofs_prove_values_and_absence(
    content: dict[bytes, bytes], asked: list[bytes]
) -> None:
    root = trie.build(content.items())
    state_root = trie.root_hash(root)
    proof = trie.read_proof(root, asked)
    for key in asked:
        assert trie_lookup(state_root, proof, key) == content.get(key)


def test_a_proof_missing_a_node_or_under_another_root_proves_nothing() -> None:
    content = {bytes([i, j]): bytes([i]) * 40 for i in range(20) for j in range(3)}
    root = trie.build(content.items())
    key = bytes([7, 1])
    proof = trie.read_proof(root, [key])
    assert trie_lookup(trie.root_hash(root), proof, key) == content[key]
    for i in range(len(proof)):
        with pytest.raises(VerificationError):
            trie_lookup(trie.root_hash(root), proof[:i] + proof[i + 1 :], key)
    other = trie.update(root, [(key, b"\x00" * 40)])
    with pytest.raises(VerificationError):
        trie_lookup(trie.root_hash(other), proof, key)


@pytest.fixture(scope="module")
def devnet() -> Iterator[DevnetThread]:
    yield from fast_devnet(seed=5, subnets=3, swaps_per_block=0)


def test_devnet_headers_carry_the_state_root_and_serve_read_proofs(devnet: DevnetThread) -> None:
    """Over JSON-RPC as from finney: the header hashes to the block hash, its state root is the
    trie's, and `state_getReadProof` proves what `state_getStorage` answers."""
    alice = Keypair.create_from_uri("//Alice")
    devnet.chain.produce_blocks(3)
    with SubstrateInterface(url=devnet.url, ss58_format=42) as s:
        block_hash = s.rpc_request("chain_getFinalizedHead", [])["result"]
        header = s.rpc_request("chain_getHeader", [block_hash])["result"]
        assert "0x" + header_hash(header).hex() == block_hash
        account = storage_key("System", "Account", ss58_decode(alice.ss58_address))
        block_hash_key = (
            codec.storage_prefix("System", "BlockHash") + codec.twox64(codec.u32(1)) + codec.u32(1)
        )
        absent = storage_key("System", "Account", bytes(32))
        asked = ["0x" + k.hex() for k in (account, block_hash_key, absent)]
        proof = s.rpc_request("state_getReadProof", [asked, block_hash])["result"]
        assert proof["at"] == block_hash
        nodes = [bytes.fromhex(n[2:]) for n in proof["proof"]]
        state_root = bytes.fromhex(header["stateRoot"][2:])
        for key_hex in asked:
            served = s.rpc_request("state_getStorage", [key_hex, block_hash])["result"]
            proven = trie_lookup(state_root, nodes, bytes.fromhex(key_hex[2:]))
            assert proven == (None if served is None else bytes.fromhex(served[2:]))
        assert trie_lookup(state_root, nodes, account) is not None
        assert trie_lookup(state_root, nodes, absent) is None
        # The whole state: every key the devnet serves is under the root.
        block = devnet.chain.block(block_hash)
        assert trie.root_hash(block.state) == state_root
        every = trie.read_proof(block.state, list(block.storage))
        for key, value in block.storage.items():
            assert trie_lookup(state_root, every, key) == value
