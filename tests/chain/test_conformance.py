"""The devnet's metadata against a recording of finney's (November 2025, `data/`): every storage
item the client reads and the devnet serves, every call, event, error and constant the devnet
implements, the signed extensions and the types clients build extrinsics and decode events with
have finney's names, indices, field order and encodings. What the exchange itself uses (the
storage custody reads, the calls it signs, the event fields it reads) is checked against the
recording too, and every runtime API the devnet answers against the V15 recording's
declaration (inputs encoded as finney declares them, answers decoded with finney's types).

The recordings are part of the repository: a missing one fails these tests, never skips them."""

import gzip
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from scalecodec.base import ScaleBytes
from substrateinterface import Keypair, SubstrateInterface

from app.chain.client import OPTIONAL_ITEMS, STORAGE_READ
from app.chain.custody import CALLS_SENT, CUSTODY_STORAGE_READ
from app.chain.devnet.metadata import (
    CALLS,
    CONSTANTS,
    ERRORS,
    EVENTS,
    EVENTS_NEWER_THAN_RECORDING,
    PALLET_INDEX,
    SIGNED_EXTENSIONS,
    STORAGE,
    _base_config,
    decode_metadata,
    metadata_hex,
)
from app.chain.devnet.runtime_api import RUNTIME_APIS
from app.chain.devnet.server import DevnetThread
from app.custody.classify import EVENTS_READ
from tests.chain.conftest import make_devnet

DATA = Path(__file__).parent / "data"
RECORDING = DATA / "subtensor-metadata-v14.hex.gz"
RECORDING_V15 = DATA / "subtensor-metadata-v15.hex.gz"
# Newer than the recording: checked against the devnet's description only.
NEWER_THAN_RECORDING = {
    ("Swap", "SwapBalancer"),
    ("SubtensorModule", "AlphaV2"),
    ("SubtensorModule", "TotalHotkeySharesV2"),
    ("SubtensorModule", "LastEpochBlock"),
    ("SubtensorModule", "PendingEpochAt"),
    ("SubtensorModule", "SubnetEpochIndex"),
    ("SubtensorModule", "SubnetExcessTao"),
    ("SubtensorModule", "SubnetProtocolAlpha"),
}
OUTER_ENUMS = ("RuntimeEvent", "RuntimeCall")


class Registry:
    def __init__(self, v14: dict[str, Any]) -> None:
        """`v14`: a V14 description (or the same parts of a V15 one)."""
        self.v14 = v14
        self.types = {t["id"]: t["type"] for t in v14["types"]["types"]}
        self.pallets = {p["name"]: p for p in v14["pallets"]}
        self.storage = {
            (p["name"], e["name"]): e
            for p in v14["pallets"]
            if p["storage"]
            for e in p["storage"]["entries"]
        }

    def shape(self, type_id: int, seen: frozenset[int] = frozenset()) -> Any:
        """A type's structure without ids: equal shapes encode identically. The runtime's outer
        call and event enums are compared pallet by pallet (the devnet has a subset)."""
        t = self.types[type_id]
        if t["path"] and t["path"][-1] in OUTER_ENUMS:
            return t["path"][-1]
        if type_id in seen:
            return ("recursive", tuple(t["path"]))
        seen = seen | {type_id}
        d = t["def"]
        if "primitive" in d:
            return d["primitive"]
        if "composite" in d:
            fields = d["composite"]["fields"]
            if len(fields) == 1 and fields[0]["name"] is None:
                return self.shape(fields[0]["type"], seen)  # newtype wrapper
            return ("struct", tuple((f["name"], self.shape(f["type"], seen)) for f in fields))
        if "variant" in d:
            return ("enum", tuple(self.variant_shape(v, seen) for v in d["variant"]["variants"]))
        if "sequence" in d:
            return ("vec", self.shape(d["sequence"]["type"], seen))
        if "array" in d:
            return ("array", d["array"]["len"], self.shape(d["array"]["type"], seen))
        if "tuple" in d:
            return ("tuple", tuple(self.shape(x, seen) for x in d["tuple"]))
        if "compact" in d:
            return ("compact", self.shape(d["compact"]["type"], seen))
        raise AssertionError(f"unexpected type definition {d}")

    def variant_shape(self, v: dict[str, Any], seen: frozenset[int] = frozenset()) -> Any:
        fields = tuple((f["name"], self.shape(f["type"], seen)) for f in v["fields"])
        return (v["index"], v["name"], fields)

    def describe(self, pallet: str, item: str) -> tuple[Any, ...]:
        entry = self.storage[(pallet, item)]
        kind = entry["type"]
        if "Plain" in kind:
            return ((), None, self.shape(kind["Plain"]), entry["modifier"])
        m = kind["Map"]
        return (
            tuple(m["hashers"]),
            self.shape(m["key"]),
            self.shape(m["value"]),
            entry["modifier"],
        )

    def variants(self, pallet: str, kind: str) -> dict[str, Any]:
        """A pallet's calls, events or errors by name: (index, name, fields)."""
        type_id = self.pallets[pallet][kind]["ty"]
        return {
            v["name"]: self.variant_shape(v)
            for v in self.types[type_id]["def"]["variant"]["variants"]
        }

    def outer(self, name: str) -> dict[str, int]:
        """RuntimeEvent / RuntimeCall: pallet name -> variant index."""
        t = next(t for t in self.types.values() if t["path"] and t["path"][-1] == name)
        return {v["name"]: v["index"] for v in t["def"]["variant"]["variants"]}

    def constant(self, pallet: str, name: str) -> tuple[Any, str]:
        c = next(c for c in self.pallets[pallet]["constants"] if c["name"] == name)
        return self.shape(c["type"]), c["value"]

    def extensions(self) -> list[tuple[str, Any, Any]]:
        return [
            (e["identifier"], self.shape(e["ty"]), self.shape(e["additional_signed"]))
            for e in self.v14["extrinsic"]["signed_extensions"]
        ]

    def by_path(self, *path: str) -> Any:
        return next(self.shape(i) for i, t in self.types.items() if tuple(t["path"]) == path)


@cache
def finney() -> Registry:
    metadata = decode_metadata(gzip.decompress(RECORDING.read_bytes()).decode().strip())
    return Registry(metadata.value[1]["V14"])


@cache
def devnet() -> Registry:
    return Registry(decode_metadata(metadata_hex()).value[1]["V14"])


def _struct(*fields: tuple[str, str]) -> dict[str, Any]:
    return {"type": "struct", "type_mapping": [list(f) for f in fields]}


# frame-metadata's RuntimeMetadataV15, up to the runtime APIs (scalecodec stops at V14).
V15_TYPES = {
    "PalletMetadataV15": _struct(
        ("name", "Text"),
        ("storage", "Option<StorageMetadataV14>"),
        ("calls", "Option<PalletCallMetadataV14>"),
        ("event", "Option<PalletEventMetadataV14>"),
        ("constants", "Vec<PalletConstantMetadataV14>"),
        ("error", "Option<PalletErrorMetadataV14>"),
        ("index", "u8"),
        ("docs", "Vec<String>"),
    ),
    "ExtrinsicMetadataV15": _struct(
        ("version", "u8"),
        ("address_ty", "SiLookupTypeId"),
        ("call_ty", "SiLookupTypeId"),
        ("signature_ty", "SiLookupTypeId"),
        ("extra_ty", "SiLookupTypeId"),
        ("signed_extensions", "Vec<SignedExtensionMetadataV14>"),
    ),
    "RuntimeApiMethodParamMetadataV15": _struct(("name", "String"), ("ty", "SiLookupTypeId")),
    "RuntimeApiMethodMetadataV15": _struct(
        ("name", "String"),
        ("inputs", "Vec<RuntimeApiMethodParamMetadataV15>"),
        ("output", "SiLookupTypeId"),
        ("docs", "Vec<String>"),
    ),
    "RuntimeApiMetadataV15": _struct(
        ("name", "String"),
        ("methods", "Vec<RuntimeApiMethodMetadataV15>"),
        ("docs", "Vec<String>"),
    ),
    "MetadataV15Head": _struct(
        ("types", "PortableRegistry"),
        ("pallets", "Vec<PalletMetadataV15>"),
        ("extrinsic", "ExtrinsicMetadataV15"),
        ("ty", "SiLookupTypeId"),
        ("apis", "Vec<RuntimeApiMetadataV15>"),
    ),
}


@cache
def finney_v15() -> tuple[Registry, dict[str, tuple[list[tuple[str, Any]], Any]]]:
    """The V15 recording's types and its runtime APIs: `Api_method` -> (inputs, output) as
    shapes (the recording is `Metadata_metadata_at_version(15)`: an `Option<OpaqueMetadata>`)."""
    config = _base_config()
    config.update_type_registry({"types": V15_TYPES})
    raw = bytes.fromhex(gzip.decompress(RECORDING_V15.read_bytes()).decode().strip()[2:])
    opaque = config.create_scale_object("Option<Vec<u8>>", data=ScaleBytes(raw)).decode()
    inner = bytes.fromhex(opaque[2:])
    assert inner[:4] == b"meta" and inner[4] == 15
    head = config.create_scale_object("MetadataV15Head", data=ScaleBytes(inner[5:]))
    v15 = head.decode(check_remaining=False)
    registry = Registry(v15)
    apis = {
        f"{api['name']}_{m['name']}": (
            [(i["name"], registry.shape(i["ty"])) for i in m["inputs"]],
            registry.shape(m["output"]),
        )
        for api in v15["apis"]
        for m in api["methods"]
    }
    return registry, apis


def test_the_recordings_are_in_the_repository() -> None:
    for recording in (RECORDING, RECORDING_V15):
        assert recording.exists(), f"{recording.name}: conformance must not depend on files outside"


def test_the_v15_recording_is_the_same_chain() -> None:
    registry, apis = finney_v15()
    assert registry.storage.keys() == finney().storage.keys()
    for item in [("SubtensorModule", "SubnetTAO"), ("System", "Account")]:
        assert registry.describe(*item) == finney().describe(*item)
    assert "SwapRuntimeApi_sim_swap_tao_for_alpha" in apis


@pytest.mark.parametrize("pallet,item", STORAGE_READ)
def test_read_items_match_the_real_chain(pallet: str, item: str) -> None:
    ours = devnet().describe(pallet, item)
    if (pallet, item) in NEWER_THAN_RECORDING:
        assert (pallet, item) not in finney().storage
        assert (pallet, item) in OPTIONAL_ITEMS  # the client copes with runtimes without it
        return
    assert finney().describe(pallet, item) == ours


@pytest.mark.parametrize("pallet,item", [(s.pallet, s.name) for s in STORAGE])
def test_served_items_match_the_real_chain(pallet: str, item: str) -> None:
    if (pallet, item) in NEWER_THAN_RECORDING:
        return
    assert finney().describe(pallet, item) == devnet().describe(pallet, item)


def test_storage_defaults_match_where_clients_rely_on_them() -> None:
    for pallet, item in [("System", "Account"), ("System", "Number"), ("Timestamp", "Now")]:
        ours = devnet().storage[(pallet, item)]["default"]
        assert finney().storage[(pallet, item)]["default"] == ours


def test_pallets_sit_at_finneys_indices() -> None:
    real = {name: p["index"] for name, p in finney().pallets.items()}
    assert {name: real[name] for name in PALLET_INDEX} == PALLET_INDEX
    for outer in OUTER_ENUMS:
        ours = devnet().outer(outer)
        assert ours == {name: finney().outer(outer)[name] for name in ours}


@pytest.mark.parametrize(
    "pallet,call", [(p, name) for p, calls in CALLS.items() for _, name, _ in calls]
)
def test_calls_match_the_real_chain(pallet: str, call: str) -> None:
    """Index, argument names and encodings: an extrinsic built for finney is one for the devnet."""
    assert devnet().variants(pallet, "calls")[call] == finney().variants(pallet, "calls")[call]


@pytest.mark.parametrize(
    "pallet,event", [(p, name) for p, events in EVENTS.items() for _, name, _ in events]
)
def test_events_match_the_real_chain(pallet: str, event: str) -> None:
    """Index, field names, order and encodings: a scanner decodes the devnet's events as finney's."""
    ours = devnet().variants(pallet, "event")[event]
    if (pallet, event) in EVENTS_NEWER_THAN_RECORDING:
        assert event not in finney().variants(pallet, "event")
        assert ours[0] not in {v[0] for v in finney().variants(pallet, "event").values()}
        return
    assert ours == finney().variants(pallet, "event")[event]


@pytest.mark.parametrize(
    "pallet,error", [(p, name) for p, errors in ERRORS.items() for _, name in errors]
)
def test_errors_match_the_real_chain(pallet: str, error: str) -> None:
    assert devnet().variants(pallet, "error")[error] == finney().variants(pallet, "error")[error]


@pytest.mark.parametrize(
    "pallet,name", [(p, n) for p, constants in CONSTANTS.items() for n, _, _ in constants]
)
def test_constants_match_the_real_chain(pallet: str, name: str) -> None:
    assert devnet().constant(pallet, name) == finney().constant(pallet, name)


def test_signed_extensions_and_extrinsic_format_match() -> None:
    assert devnet().extensions() == finney().extensions()
    assert [e[0] for e in devnet().extensions()] == [e[0] for e in SIGNED_EXTENSIONS]
    assert devnet().v14["extrinsic"]["version"] == finney().v14["extrinsic"]["version"] == 4
    ours = devnet().types[devnet().v14["extrinsic"]["ty"]]
    real = finney().types[finney().v14["extrinsic"]["ty"]]
    assert ours["path"] == real["path"]
    assert [p["name"] for p in ours["params"]] == [p["name"] for p in real["params"]]
    for p_ours, p_real in zip(ours["params"], real["params"], strict=True):
        if p_ours["name"] in ("Address", "Signature", "Extension"):
            assert devnet().shape(p_ours["type"]) == finney().shape(p_real["type"])


@pytest.mark.parametrize(
    "path",
    [
        ("frame_system", "EventRecord"),
        ("frame_system", "Phase"),
        ("frame_system", "AccountInfo"),
        ("frame_system", "DispatchEventInfo"),
        ("sp_runtime", "DispatchError"),
        ("sp_runtime", "multiaddress", "MultiAddress"),
        ("sp_runtime", "MultiSignature"),
        ("sp_runtime", "generic", "era", "Era"),
    ],
)
def test_shared_types_match(path: tuple[str, ...]) -> None:
    assert devnet().by_path(*path) == finney().by_path(*path)


def test_newer_items_have_the_documented_shape() -> None:
    safe_float = ("struct", (("mantissa", "u128"), ("exponent", "i64")))
    assert devnet().describe("SubtensorModule", "AlphaV2")[2] == safe_float
    assert devnet().describe("SubtensorModule", "TotalHotkeySharesV2")[2] == safe_float
    hashers, key, value, _ = devnet().describe("Swap", "SwapBalancer")
    assert (
        hashers == ("Twox64Concat",) and key == "u16" and value == ("struct", (("quote", "u64"),))
    )
    newer = ("LastEpochBlock", "PendingEpochAt", "SubnetEpochIndex", "SubnetExcessTao")
    for item in (*newer, "SubnetProtocolAlpha"):  # lib.rs, June 2026
        assert devnet().describe("SubtensorModule", item) == (
            ("Identity",),
            "u16",
            "u64",
            "Default",
        )
    events = devnet().variants("SubtensorModule", "event")
    assert events["EpochTriggered"] == (
        131,
        "EpochTriggered",
        (("netuid", "u16"), ("by", ("array", 32, "u8")), ("fires_at", "u64")),
    )
    assert events["EpochDeferred"] == (
        132,
        "EpochDeferred",
        (("netuid", "u16"), ("from_block", "u64"), ("to_block", "u64")),
    )
    fee_with_alpha = devnet().variants("SubtensorModule", "event")["TransactionFeePaidWithAlpha"]
    assert fee_with_alpha == (
        123,
        "TransactionFeePaidWithAlpha",
        (
            ("who", ("array", 32, "u8")),
            ("netuid", "u16"),
            ("alpha_fee", "u64"),
            ("tao_amount", "u64"),
        ),
    )


# --- what the exchange itself uses ------------------------------------------------------------


@pytest.mark.parametrize("pallet,item", sorted(set(CUSTODY_STORAGE_READ) - set(STORAGE_READ)))
def test_custody_reads_match_the_real_chain(pallet: str, item: str) -> None:
    ours = devnet().describe(pallet, item)
    if (pallet, item) in NEWER_THAN_RECORDING:
        assert (pallet, item) in OPTIONAL_ITEMS
        return
    assert finney().describe(pallet, item) == ours


@pytest.mark.parametrize("pallet,call", sorted(CALLS_SENT))
def test_calls_custody_signs_match_the_real_chain(pallet: str, call: str) -> None:
    """The argument names custody composes, in finney's order, and the devnet's call is finney's."""
    index, name, fields = finney().variants(pallet, "calls")[call]
    assert tuple(f[0] for f in fields) == CALLS_SENT[(pallet, call)]
    assert devnet().variants(pallet, "calls")[call] == (index, name, fields)


def _fields(registry: Registry, pallet: str, event: str) -> list[tuple[Any, str, Any]]:
    """An event's fields: (name, Rust type name, shape)."""
    variants = registry.types[registry.pallets[pallet]["event"]["ty"]]["def"]["variant"]
    variant = next(v for v in variants["variants"] if v["name"] == event)
    return [(f["name"], f["typeName"], registry.shape(f["type"])) for f in variant["fields"]]


@pytest.mark.parametrize("pallet,event", sorted(EVENTS_READ))
def test_event_fields_custody_reads_match_the_real_chain(pallet: str, event: str) -> None:
    """Each field the classifier reads sits at the position it reads, under the name it asks for
    (where the chain names fields) and with the Rust type it expects (TAO vs alpha amounts)."""
    ours = _fields(devnet(), pallet, event)
    if (pallet, event) in EVENTS_NEWER_THAN_RECORDING:
        assert event not in finney().variants(pallet, "event")
    else:
        assert _fields(finney(), pallet, event) == ours
    for name, position, type_name in EVENTS_READ[(pallet, event)]:
        assert ours[position][:2] in ((name, type_name), (None, type_name)), (event, name)


# --- runtime APIs -----------------------------------------------------------------------------


def _compact(n: int) -> bytes:
    if n < 1 << 6:
        return bytes([n << 2])
    if n < 1 << 14:
        return ((n << 2) | 1).to_bytes(2, "little")
    if n < 1 << 30:
        return ((n << 2) | 2).to_bytes(4, "little")
    body = n.to_bytes((n.bit_length() + 7) // 8, "little")
    return bytes([((len(body) - 4) << 2) | 3]) + body


INTS = {"u8": 1, "u16": 2, "u32": 4, "u64": 8, "u128": 16}


def scale_encode(shape: Any, value: Any) -> bytes:
    """SCALE bytes of `value` as the type `shape` (a `Registry.shape`) encodes it."""
    if shape in INTS:
        return int(value).to_bytes(INTS[shape], "little")
    if shape == ("vec", "u8") or (shape[0] == "array" and shape[2] == "u8"):
        data = bytes(value)
        return data if shape[0] == "array" else _compact(len(data)) + data
    if shape[0] == "vec":
        return _compact(len(value)) + b"".join(scale_encode(shape[1], v) for v in value)
    raise AssertionError(f"no encoder for {shape}")


def scale_decode(shape: Any, data: bytes, at: int = 0) -> tuple[Any, int]:
    """`(value, next offset)`: structs as dicts, enums as (variant name, fields)."""
    if shape in INTS:
        end = at + INTS[shape]
        return int.from_bytes(data[at:end], "little"), end
    if shape == "bool":
        assert data[at] in (0, 1)
        return data[at] == 1, at + 1
    kind = shape[0]
    if kind == "compact":
        mode = data[at] & 3
        if mode == 3:
            length = (data[at] >> 2) + 4
            return int.from_bytes(data[at + 1 : at + 1 + length], "little"), at + 1 + length
        width = {0: 1, 1: 2, 2: 4}[mode]
        return int.from_bytes(data[at : at + width], "little") >> 2, at + width
    if kind == "struct":
        out = {}
        for name, field_shape in shape[1]:
            out[name], at = scale_decode(field_shape, data, at)
        return out, at
    if kind == "enum":
        variant = next(v for v in shape[1] if v[0] == data[at])
        values = []
        at += 1
        for _, field_shape in variant[2]:
            value, at = scale_decode(field_shape, data, at)
            values.append(value)
        return (variant[1], values), at
    if kind == "vec":
        n, at = scale_decode(("compact", "u32"), data, at)
        if shape[1] == "u8":
            return data[at : at + n], at + n
        items = []
        for _ in range(n):
            item, at = scale_decode(shape[1], data, at)
            items.append(item)
        return items, at
    if kind == "array" and shape[2] == "u8":
        return data[at : at + shape[1]], at + shape[1]
    raise AssertionError(f"no decoder for {shape}")


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[DevnetThread, SubstrateInterface]]:
    with make_devnet(swaps_per_block=0) as dev:
        dev.chain.produce_blocks(2)
        with SubstrateInterface(url=dev.url, ss58_format=42) as substrate:
            yield dev, substrate


def _answer(substrate: SubstrateInterface, method: str, inputs: list[bytes]) -> Any:
    """`state_call` with inputs encoded per finney's declaration; the answer decoded per finney's
    output type, every byte consumed."""
    declared, output = finney_v15()[1][method]
    assert len(declared) == len(inputs)
    response = substrate.rpc_request("state_call", [method, "0x" + b"".join(inputs).hex()])
    data = bytes.fromhex(response["result"][2:])
    value, end = scale_decode(output, data)
    assert end == len(data), f"{method}: {len(data) - end} bytes more than finney's type"
    return value


def _input(method: str, position: int, value: Any) -> bytes:
    return scale_encode(finney_v15()[1][method][0][position][1], value)


def test_every_runtime_api_the_devnet_answers_is_finneys() -> None:
    apis = finney_v15()[1]
    assert set(RUNTIME_APIS) <= set(apis), set(RUNTIME_APIS) - set(apis)


def test_runtime_api_answers_decode_with_finneys_types(
    served: tuple[DevnetThread, SubstrateInterface],
) -> None:
    substrate = served[1]
    alice = Keypair.create_from_uri("//Alice")
    call = substrate.compose_call(
        "Balances", "transfer_keep_alive", {"dest": alice.ss58_address, "value": 10**9}
    )
    xt = substrate.create_signed_extrinsic(call, alice)
    body = bytes(xt.data.data)
    n, start = scale_decode(("compact", "u32"), body)
    assert start + n == len(body)
    checked = set()

    method = "AccountNonceApi_account_nonce"
    nonce = _answer(substrate, method, [_input(method, 0, alice.public_key)])
    assert nonce == substrate.get_account_nonce(alice.ss58_address)
    checked.add(method)

    quoted = int(substrate.get_payment_info(call, alice)["partialFee"])
    method = "TransactionPaymentApi_query_info"
    inputs = [_input(method, 0, body[start:]), _input(method, 1, len(body))]
    info = _answer(substrate, method, inputs)
    assert info["partial_fee"] == quoted > 0 and info["class"] == ("Normal", [])
    assert info["weight"]["ref_time"] > 0
    checked.add(method)

    method = "TransactionPaymentApi_query_fee_details"
    details = _answer(substrate, method, inputs)
    name, [fees] = details["inclusion_fee"]
    assert name == "Some" and details["tip"] == 0
    assert fees["base_fee"] + fees["len_fee"] + fees["adjusted_weight_fee"] == quoted
    checked.add(method)

    ours = bytes.fromhex(metadata_hex()[2:])
    assert _answer(substrate, "Metadata_metadata", []) == ours
    assert _answer(substrate, "Metadata_metadata_versions", []) == [14]
    method = "Metadata_metadata_at_version"
    assert _answer(substrate, method, [_input(method, 0, 14)]) == ("Some", [ours])
    assert _answer(substrate, method, [_input(method, 0, 15)]) == ("None", [])
    checked |= {"Metadata_metadata", "Metadata_metadata_versions", method}
    assert checked == set(RUNTIME_APIS)  # a newly served API gets its check here
