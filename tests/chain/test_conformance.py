"""Every storage item the client reads exists on the real chain with the same hashers and an
equivalent value type (checked against a recording of finney's V14 metadata)."""

from functools import cache
from typing import Any

import pytest

from app.chain.client import OPTIONAL_ITEMS, STORAGE_READ
from app.chain.devnet.metadata import decode_metadata, metadata_hex
from app.config import PROJECT_ROOT

RECORDING = PROJECT_ROOT.parent / "shared" / "chain" / "subtensor-metadata-v14.hex"
# Newer than the recording (November 2025): checked against the devnet's description only.
NEWER_THAN_RECORDING = {
    ("Swap", "SwapBalancer"),
    ("SubtensorModule", "AlphaV2"),
    ("SubtensorModule", "TotalHotkeySharesV2"),
}


class Registry:
    def __init__(self, metadata: Any) -> None:
        v14 = metadata.value[1]["V14"]
        self.types = {t["id"]: t["type"] for t in v14["types"]["types"]}
        self.storage = {
            (p["name"], e["name"]): e
            for p in v14["pallets"]
            if p["storage"]
            for e in p["storage"]["entries"]
        }

    def shape(self, type_id: int) -> Any:
        """A type's structure without ids or paths: equal shapes encode identically."""
        d = self.types[type_id]["def"]
        if "primitive" in d:
            return d["primitive"]
        if "composite" in d:
            fields = d["composite"]["fields"]
            if len(fields) == 1 and fields[0]["name"] is None:
                return self.shape(fields[0]["type"])  # newtype wrapper
            return ("struct", tuple((f["name"], self.shape(f["type"])) for f in fields))
        if "sequence" in d:
            return ("vec", self.shape(d["sequence"]["type"]))
        if "array" in d:
            return ("array", d["array"]["len"], self.shape(d["array"]["type"]))
        if "tuple" in d:
            return ("tuple", tuple(self.shape(t) for t in d["tuple"]))
        if "compact" in d:
            return ("compact", self.shape(d["compact"]["type"]))
        raise AssertionError(f"unexpected type definition {d}")

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


@cache
def finney() -> Registry:
    if not RECORDING.exists():
        pytest.skip(f"no recording at {RECORDING}")
    return Registry(decode_metadata(RECORDING.read_text().strip()))


@cache
def devnet() -> Registry:
    return Registry(decode_metadata(metadata_hex()))


@pytest.mark.parametrize("pallet,item", STORAGE_READ)
def test_read_items_match_the_real_chain(pallet: str, item: str) -> None:
    ours = devnet().describe(pallet, item)
    if (pallet, item) in NEWER_THAN_RECORDING:
        assert (pallet, item) not in finney().storage
        assert (pallet, item) in OPTIONAL_ITEMS  # the client copes with runtimes without it
        return
    assert finney().describe(pallet, item) == ours


def test_newer_items_have_the_documented_shape() -> None:
    safe_float = ("struct", (("mantissa", "u128"), ("exponent", "i64")))
    assert devnet().describe("SubtensorModule", "AlphaV2")[2] == safe_float
    assert devnet().describe("SubtensorModule", "TotalHotkeySharesV2")[2] == safe_float
    hashers, key, value, _ = devnet().describe("Swap", "SwapBalancer")
    assert (
        hashers == ("Twox64Concat",) and key == "u16" and value == ("struct", (("quote", "u64"),))
    )
