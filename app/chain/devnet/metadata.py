"""The V14 runtime metadata the devnet serves, built here from a Python description.

Pallet names and indices, storage items (hashers, value types, defaults), calls (indices,
argument names and types), events (indices, fields in order), errors, constants and the signed
extensions are those of the real subtensor runtime for the parts the devnet implements (checked
against a recording of finney's metadata by `tests/chain/test_conformance.py`), so clients read
and sign for the devnet exactly as for finney. Type ids are the devnet's own; paths follow the
real runtime because scalecodec picks its decoders (accounts, eras, calls, events) by path.

`pallets.py` declares calls, events, errors and constants, `runtime_types.py` the types; this
module declares the storage, assembles and encodes the metadata, and decodes calls with it.
"""

from dataclasses import dataclass
from functools import cache
from typing import Any

from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset

from app.chain.devnet.pallets import (
    ACC,
    BLOCK_HASH_COUNT,
    CALLS,
    CONSTANTS,
    ERRORS,
    EVENTS,
    EVENTS_NEWER_THAN_RECORDING,
    EXISTENTIAL_DEPOSIT,
    IDENTITY_FIELDS,
    MINIMUM_PERIOD_MS,
    PALLET_INDEX,
    SIGNED_EXTENSIONS,
    SPEC_VERSION,
    SS58_FORMAT,
    TRANSACTION_VERSION,
    M,
    call_index,
    error_index,
    event_index,
)
from app.chain.devnet.runtime_types import build_registry
from app.chain.devnet.scale_info import TypeRegistry
from app.chain.scale_lock import SCALECODEC

__all__ = [
    "BLOCK_HASH_COUNT",
    "CALLS",
    "CONSTANTS",
    "ERRORS",
    "EVENTS",
    "EVENTS_NEWER_THAN_RECORDING",
    "EXISTENTIAL_DEPOSIT",
    "IDENTITY_FIELDS",
    "MINIMUM_PERIOD_MS",
    "PALLET_INDEX",
    "SIGNED_EXTENSIONS",
    "SPEC_VERSION",
    "SS58_FORMAT",
    "STORAGE",
    "STORAGE_BY_NAME",
    "TRANSACTION_VERSION",
    "CallDecoder",
    "StorageItem",
    "call_decoder",
    "call_index",
    "decode_metadata",
    "error_index",
    "event_index",
    "metadata_hex",
]

# --- storage ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StorageItem:
    pallet: str
    name: str
    hashers: tuple[str, ...]  # empty: a plain value
    key_parts: tuple[str, ...]  # type name of each key part
    value: str  # type name of the value
    default: bytes  # SCALE bytes of the ValueQuery default
    optional: bool = False  # OptionQuery: absent stays None


ZERO8, ZERO16, ZERO32 = bytes(8), bytes(16), bytes(32)
ID, B2, TX64 = "Identity", "Blake2_128Concat", "Twox64Concat"
NEW_LOGIC_FLAG = 1 << 127  # pallet_balances ExtraFlags: accounts use the current logic
ACCOUNT_INFO_DEFAULT = bytes(16) + bytes(24) + NEW_LOGIC_FLAG.to_bytes(16, "little")


def _plain(
    pallet: str, name: str, value: str, default: bytes, optional: bool = False
) -> StorageItem:
    return StorageItem(pallet, name, (), (), value, default, optional)


def _map(
    pallet: str,
    name: str,
    hashers: tuple[str, ...],
    parts: tuple[str, ...],
    value: str,
    default: bytes = b"",
    optional: bool = False,
) -> StorageItem:
    return StorageItem(pallet, name, hashers, parts, value, default, optional)


NET = ("u16",)
HOT_NET = (ACC, "u16")
HOT_COLD_NET = (ACC, ACC, "u16")

STORAGE: tuple[StorageItem, ...] = (
    _map("System", "Account", (B2,), (ACC,), "AccountInfo", ACCOUNT_INFO_DEFAULT),
    _map("System", "BlockHash", (TX64,), ("u32",), "H256", ZERO32),
    _plain("System", "Number", "u32", bytes(4)),
    _plain("System", "ParentHash", "H256", ZERO32),
    _plain("System", "Events", "Vec<EventRecord>", b"\x00"),
    _plain("System", "EventCount", "u32", bytes(4)),
    _plain("Timestamp", "Now", "u64", ZERO8),
    _plain("Balances", "TotalIssuance", "u64", ZERO8),
    _plain("TransactionPayment", "NextFeeMultiplier", "FixedU128", (10**18).to_bytes(16, "little")),
    _map(M, "NetworksAdded", (ID,), NET, "bool", b"\x00"),
    _map(M, "SubnetTAO", (ID,), NET, "u64", ZERO8),
    _map(M, "SubnetAlphaIn", (ID,), NET, "u64", ZERO8),
    _map(M, "SubnetAlphaOut", (ID,), NET, "u64", ZERO8),
    _map(M, "SubnetMovingPrice", (ID,), NET, "I96F32", ZERO16),
    _map(M, "SubnetVolume", (ID,), NET, "u128", ZERO16),
    _map(M, "TokenSymbol", (ID,), NET, "Vec<u8>", b"\x10" + "𝜏".encode()),
    _map(M, "SubnetIdentitiesV3", (B2,), NET, "SubnetIdentityV3", b"", optional=True),
    _map(M, "SubnetOwner", (ID,), NET, ACC, ZERO32),
    _map(M, "SubnetOwnerHotkey", (ID,), NET, ACC, ZERO32),
    _map(M, "Tempo", (ID,), NET, "u16", (360).to_bytes(2, "little")),
    _map(M, "NetworkRegisteredAt", (ID,), NET, "u64", ZERO8),
    _map(M, "SubnetMechanism", (ID,), NET, "u16", bytes(2)),
    _map(M, "SubnetTaoInEmission", (ID,), NET, "u64", ZERO8),
    _map(M, "SubnetAlphaInEmission", (ID,), NET, "u64", ZERO8),
    _map(M, "SubnetAlphaOutEmission", (ID,), NET, "u64", ZERO8),
    _map(M, "SubtokenEnabled", (ID,), NET, "bool", b"\x00"),
    _map(M, "LastEpochBlock", (ID,), NET, "u64", ZERO8),
    _map(M, "PendingEpochAt", (ID,), NET, "u64", ZERO8),
    _map(M, "SubnetEpochIndex", (ID,), NET, "u64", ZERO8),
    _map(M, "SubnetExcessTao", (ID,), NET, "u64", ZERO8),
    _map(M, "Burn", (ID,), NET, "u64", (100_000_000).to_bytes(8, "little")),
    _map(M, "TransferToggle", (ID,), NET, "bool", b"\x01"),
    _plain(M, "TaoWeight", "u64", (971_718_665_099_567_868).to_bytes(8, "little")),
    _map(M, "ChildkeyTake", (B2, ID), HOT_NET, "u16", bytes(2)),
    _map(M, "AlphaDividendsPerSubnet", (ID, B2), ("u16", ACC), "u64", ZERO8),
    _map(M, "TotalHotkeyAlphaLastEpoch", (B2, ID), HOT_NET, "u64", ZERO8),
    _map(M, "SubnetProtocolAlpha", (ID,), NET, "u64", ZERO8),
    _map(M, "Keys", (ID, ID), ("u16", "u16"), ACC, ZERO32),
    _map(M, "ValidatorPermit", (ID,), NET, "Vec<bool>", b"\x00"),
    _map(M, "Delegates", (B2,), (ACC,), "u16", (11796).to_bytes(2, "little")),
    _map(M, "Owner", (B2,), (ACC,), ACC, ZERO32),
    _map(M, "StakingHotkeys", (B2,), (ACC,), f"Vec<{ACC}>", b"\x00"),
    _map(M, "TotalHotkeyAlpha", (B2, ID), HOT_NET, "u64", ZERO8),
    _map(M, "TotalHotkeyShares", (B2, ID), HOT_NET, "U64F64", ZERO16),
    _map(M, "TotalHotkeySharesV2", (B2, ID), HOT_NET, "SafeFloat", ZERO16 + ZERO8),
    _map(M, "Alpha", (B2, B2, ID), HOT_COLD_NET, "U64F64", ZERO16),
    _map(M, "AlphaV2", (B2, B2, ID), HOT_COLD_NET, "SafeFloat", ZERO16 + ZERO8),
    _map("Swap", "FeeRate", (TX64,), NET, "u16", (33).to_bytes(2, "little")),
    _map("Swap", "SwapBalancer", (TX64,), NET, "Balancer", (5 * 10**17).to_bytes(8, "little")),
)

STORAGE_BY_NAME: dict[tuple[str, str], StorageItem] = {(s.pallet, s.name): s for s in STORAGE}


# --- assembly ---------------------------------------------------------------------------------


def _entry(reg: TypeRegistry, item: StorageItem) -> dict[str, Any]:
    if item.hashers:
        key = item.key_parts[0] if len(item.key_parts) == 1 else f"({', '.join(item.key_parts)})"
        kind: dict[str, Any] = {
            "Map": {"hashers": list(item.hashers), "key": reg.id(key), "value": reg.id(item.value)}
        }
    else:
        kind = {"Plain": reg.id(item.value)}
    return {
        "name": item.name,
        "modifier": "Optional" if item.optional else "Default",
        "type": kind,
        "default": "0x" + (b"\x00" if item.optional else item.default).hex(),
        "documentation": [],
    }


def metadata_value() -> tuple[str, dict[str, Any]]:
    """The `MetadataVersioned` value: magic number and the V14 description."""
    reg = build_registry()
    pallets = []
    for name, index in PALLET_INDEX.items():
        entries = [_entry(reg, s) for s in STORAGE if s.pallet == name]
        pallets.append(
            {
                "name": name,
                "storage": {"prefix": name, "entries": entries} if entries else None,
                "calls": {"ty": reg.id(f"{name}Call")} if name in CALLS else None,
                "event": {"ty": reg.id(f"{name}Event")} if name in EVENTS else None,
                "constants": [
                    {"name": n, "type": reg.id(t), "value": "0x" + value.hex(), "documentation": []}
                    for n, t, value in CONSTANTS.get(name, [])
                ],
                "error": {"ty": reg.id(f"{name}Error")} if name in ERRORS else None,
                "index": index,
            }
        )
    extensions = [
        {"identifier": ident, "ty": reg.id(extra), "additional_signed": reg.id(implicit)}
        for ident, extra, implicit in SIGNED_EXTENSIONS
    ]
    extrinsic = {"ty": reg.id("UncheckedExtrinsic"), "version": 4, "signed_extensions": extensions}
    runtime_type = reg.id("RuntimeCall")
    v14 = {
        "types": {"types": reg.portable()},  # last: every type above is registered by now
        "pallets": pallets,
        "extrinsic": extrinsic,
        "runtime_type": runtime_type,
    }
    return ("0x6d657461", {"V14": v14})


def _base_config() -> RuntimeConfigurationObject:
    config = RuntimeConfigurationObject()
    config.update_type_registry(load_type_registry_preset("legacy"))
    config.update_type_registry(load_type_registry_preset("core"))
    return config


@cache
def metadata_hex() -> str:
    """SCALE-encoded metadata, as `state_getMetadata` returns it."""
    with SCALECODEC.held():
        obj = _base_config().create_scale_object("MetadataVersioned")
        data = obj.encode(metadata_value())
    return "0x" + bytes(data.data).hex()


def decode_metadata(hex_data: str) -> Any:
    """Decode a `state_getMetadata` result (about a second for the real chain's)."""
    with SCALECODEC.held():
        obj = _base_config().create_scale_object("MetadataVersioned", data=ScaleBytes(hex_data))
        obj.decode()
    return obj


class CallDecoder:
    """The devnet's own metadata with a scalecodec configuration that decodes calls as a client
    would. One is shared (`call_decoder()`); scalecodec work holds `SCALECODEC`."""

    def __init__(self) -> None:
        self.metadata = decode_metadata(metadata_hex())
        with SCALECODEC.held():
            self.config = _base_config()
            self.config.add_portable_registry(self.metadata)

    def decode_call(self, data: bytes) -> tuple[dict[str, Any], int]:
        """A call's module, function and arguments, and the number of bytes it took."""
        with SCALECODEC.held():
            obj = self.config.create_scale_object(
                "Call", data=ScaleBytes(data), metadata=self.metadata
            )
            value = obj.decode(check_remaining=False)
            return value, obj.data.offset


@cache
def call_decoder() -> CallDecoder:
    """The shared decoder, built on first use (decoding the metadata takes a few 100 ms)."""
    return CallDecoder()
