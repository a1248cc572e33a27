"""`state_call`: the runtime APIs a wallet asks a subtensor node, SCALE in and out.

`AccountNonceApi_account_nonce` (the nonce in state at the block: pending transactions do not
count, as on finney), `TransactionPaymentApi_query_info` / `query_fee_details` (the fee model
of `runtime.py`; balances are u64 as on subtensor), `Metadata_metadata`,
`Metadata_metadata_versions` and `Metadata_metadata_at_version` (V14 only). The devnet does not
list `state_call` in `rpc_methods`, so substrate-interface keeps to `system_accountNextIndex`
and `payment_queryInfo`; clients that call runtime APIs directly get these answers.
"""

from app.chain import codec
from app.chain.devnet.chain import Block, DevnetChain
from app.chain.devnet.extrinsics import decode
from app.chain.devnet.metadata import STORAGE_BY_NAME, call_decoder, metadata_hex
from app.chain.devnet.runtime import call_weight

# Every runtime API the devnet answers (tests/chain/test_conformance.py calls each with inputs
# encoded as finney's recorded V15 metadata declares them and decodes the answers with its types).
RUNTIME_APIS = (
    "AccountNonceApi_account_nonce",
    "TransactionPaymentApi_query_info",
    "TransactionPaymentApi_query_fee_details",
    "Metadata_metadata",
    "Metadata_metadata_versions",
    "Metadata_metadata_at_version",
)


class UnknownRuntimeApi(LookupError):
    pass


def state_call(chain: DevnetChain, block: Block, method: str, data: bytes) -> bytes:
    if method not in RUNTIME_APIS:
        raise UnknownRuntimeApi(method)
    if method == "AccountNonceApi_account_nonce":
        if len(data) != 32:
            raise ValueError("expected an AccountId")
        key = chain.storage_key(STORAGE_BY_NAME[("System", "Account")], data)
        value = chain.read(block, key)
        return value[:4] if value else codec.u32(0)
    if method in ("TransactionPaymentApi_query_info", "TransactionPaymentApi_query_fee_details"):
        if len(data) < 5:
            raise ValueError("expected an extrinsic and its length")
        xt = decode(data[:-4], call_decoder())
        length = int.from_bytes(data[-4:], "little")
        fee = chain.executive.fee(xt, length)
        signed = xt.signer is not None
        if method.endswith("query_info"):
            ref_time, proof_size = call_weight(xt)
            partial = fee.partial if signed else 0
            return (
                codec.compact(ref_time) + codec.compact(proof_size) + b"\x00" + codec.u64(partial)
            )
        if not signed:
            return b"\x00" + codec.u64(0)
        return (
            b"\x01"
            + codec.u64(fee.base)
            + codec.u64(fee.length)
            + codec.u64(fee.weight)
            + codec.u64(0)  # the tip is not part of a quote
        )
    metadata = bytes.fromhex(metadata_hex()[2:])
    if method == "Metadata_metadata":
        return codec.vec_u8(metadata)
    if method == "Metadata_metadata_versions":
        return codec.compact(1) + codec.u32(14)
    if method == "Metadata_metadata_at_version":
        if len(data) != 4:
            raise ValueError("expected a u32 version")
        return b"\x01" + codec.vec_u8(metadata) if int.from_bytes(data, "little") == 14 else b"\x00"
    raise UnknownRuntimeApi(method)
