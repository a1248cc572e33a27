"""The devnet's metadata against a recording of finney's (November 2025, `data/`): every storage
item the client reads and the devnet serves, every call, event, error and constant the devnet
implements, the signed extensions and the types clients build extrinsics and decode events with
have finney's names, indices, field order and encodings."""

import gzip
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from app.chain.client import OPTIONAL_ITEMS, STORAGE_READ
from app.chain.devnet.metadata import (
    CALLS,
    CONSTANTS,
    ERRORS,
    EVENTS,
    EVENTS_NEWER_THAN_RECORDING,
    PALLET_INDEX,
    SIGNED_EXTENSIONS,
    STORAGE,
    decode_metadata,
    metadata_hex,
)

RECORDING = Path(__file__).parent / "data" / "subtensor-metadata-v14.hex.gz"
# Newer than the recording: checked against the devnet's description only.
NEWER_THAN_RECORDING = {
    ("Swap", "SwapBalancer"),
    ("SubtensorModule", "AlphaV2"),
    ("SubtensorModule", "TotalHotkeySharesV2"),
}
OUTER_ENUMS = ("RuntimeEvent", "RuntimeCall")


class Registry:
    def __init__(self, metadata: Any) -> None:
        v14 = metadata.value[1]["V14"]
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
    return Registry(decode_metadata(gzip.decompress(RECORDING.read_bytes()).decode().strip()))


@cache
def devnet() -> Registry:
    return Registry(decode_metadata(metadata_hex()))


def test_the_recording_is_in_the_repository() -> None:
    assert RECORDING.exists(), "the conformance tests must not depend on files outside the repo"


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
