"""The V14 runtime metadata the devnet serves, built here from a Python description.

Pallet and storage item names, hashers and value types are those of the real subtensor runtime
(checked against a recording by `tests/chain/test_conformance.py`), so the client reads the
devnet exactly as it reads finney. Encoded once with scalecodec's `MetadataVersioned`.
"""

from dataclasses import dataclass
from functools import cache
from typing import Any

from scalecodec.base import RuntimeConfiguration
from scalecodec.type_registry import load_type_registry_preset

SPEC_VERSION = 400
SS58_FORMAT = 42

# Portable type registry: id -> (path, definition). Ids are ours; only shapes matter.
T_U8, T_ARR32, T_ACCOUNT, T_U16, T_U32, T_U64, T_U128, T_BOOL, T_I128, T_I64 = range(10)
T_BYTES, T_VEC_BOOL, T_FIXED_I128, T_FIXED_U128, T_KEY_HOT_NET, T_KEY_HOT_COLD_NET = range(10, 16)
T_KEY_NET_UID, T_IDENTITY, T_SAFE_FLOAT, T_PERQUINTILL, T_BALANCER = range(16, 21)

IDENTITY_FIELDS = (
    "subnet_name",
    "github_repo",
    "subnet_contact",
    "subnet_url",
    "discord",
    "description",
    "logo_url",
    "additional",
)


def _field(type_id: int, name: str | None = None, type_name: str | None = None) -> dict[str, Any]:
    return {"name": name, "type": type_id, "typeName": type_name, "docs": []}


def _prim(name: str) -> dict[str, Any]:
    return {"primitive": name}


def _composite(*fields: dict[str, Any]) -> dict[str, Any]:
    return {"composite": {"fields": list(fields)}}


TYPES: dict[int, tuple[list[str], dict[str, Any]]] = {
    T_U8: ([], _prim("u8")),
    T_ARR32: ([], {"array": {"len": 32, "type": T_U8}}),
    T_ACCOUNT: (
        ["sp_core", "crypto", "AccountId32"],
        _composite(_field(T_ARR32, None, "[u8; 32]")),
    ),
    T_U16: ([], _prim("u16")),
    T_U32: ([], _prim("u32")),
    T_U64: ([], _prim("u64")),
    T_U128: ([], _prim("u128")),
    T_BOOL: ([], _prim("bool")),
    T_I128: ([], _prim("i128")),
    T_I64: ([], _prim("i64")),
    T_BYTES: ([], {"sequence": {"type": T_U8}}),
    T_VEC_BOOL: ([], {"sequence": {"type": T_BOOL}}),
    T_FIXED_I128: (["substrate_fixed", "FixedI128"], _composite(_field(T_I128, "bits", "i128"))),
    T_FIXED_U128: (["substrate_fixed", "FixedU128"], _composite(_field(T_U128, "bits", "u128"))),
    T_KEY_HOT_NET: ([], {"tuple": [T_ACCOUNT, T_U16]}),
    T_KEY_HOT_COLD_NET: ([], {"tuple": [T_ACCOUNT, T_ACCOUNT, T_U16]}),
    T_KEY_NET_UID: ([], {"tuple": [T_U16, T_U16]}),
    T_IDENTITY: (
        ["pallet_subtensor", "pallet", "SubnetIdentityV3"],
        _composite(*(_field(T_BYTES, name, "Vec<u8>") for name in IDENTITY_FIELDS)),
    ),
    T_SAFE_FLOAT: (
        ["share_pool", "SafeFloat"],
        _composite(_field(T_U128, "mantissa", "u128"), _field(T_I64, "exponent", "i64")),
    ),
    T_PERQUINTILL: (
        ["sp_arithmetic", "per_things", "Perquintill"],
        _composite(_field(T_U64, None, "u64")),
    ),
    T_BALANCER: (
        ["pallet_subtensor_swap", "pallet", "balancer", "Balancer"],
        _composite(_field(T_PERQUINTILL, "quote", "Perquintill")),
    ),
}


@dataclass(frozen=True, slots=True)
class StorageItem:
    pallet: str
    name: str
    hashers: tuple[str, ...]  # empty: a plain value
    key: int | None  # type id of the key (a tuple for multi-part keys)
    key_parts: tuple[int, ...]  # type id of each key part, for the devnet's own encoding
    value: int
    default: bytes  # SCALE bytes of the ValueQuery default
    optional: bool = False  # OptionQuery: absent stays None


def _map(
    pallet: str,
    name: str,
    hashers: tuple[str, ...],
    parts: tuple[int, ...],
    value: int,
    default: bytes = b"",
    key: int | None = None,
    optional: bool = False,
) -> StorageItem:
    if key is None:
        key = parts[0]
    return StorageItem(pallet, name, hashers, key, parts, value, default, optional)


ZERO8, ZERO16, ZERO32 = bytes(8), bytes(16), bytes(32)
NETUID = (T_U16,)
HOT_NET = (T_ACCOUNT, T_U16)
HOT_COLD_NET = (T_ACCOUNT, T_ACCOUNT, T_U16)
ID, B2 = "Identity", "Blake2_128Concat"

STORAGE: tuple[StorageItem, ...] = (
    StorageItem("System", "Number", (), None, (), T_U32, bytes(4)),
    _map("SubtensorModule", "NetworksAdded", (ID,), NETUID, T_BOOL, b"\x00"),
    _map("SubtensorModule", "SubnetTAO", (ID,), NETUID, T_U64, ZERO8),
    _map("SubtensorModule", "SubnetAlphaIn", (ID,), NETUID, T_U64, ZERO8),
    _map("SubtensorModule", "SubnetAlphaOut", (ID,), NETUID, T_U64, ZERO8),
    _map("SubtensorModule", "SubnetMovingPrice", (ID,), NETUID, T_FIXED_I128, ZERO16),
    _map("SubtensorModule", "SubnetVolume", (ID,), NETUID, T_U128, ZERO16),
    _map("SubtensorModule", "TokenSymbol", (ID,), NETUID, T_BYTES, b"\x10" + "𝜏".encode()),
    _map("SubtensorModule", "SubnetIdentitiesV3", (B2,), NETUID, T_IDENTITY, b"", optional=True),
    _map("SubtensorModule", "SubnetOwner", (ID,), NETUID, T_ACCOUNT, ZERO32),
    _map("SubtensorModule", "SubnetOwnerHotkey", (ID,), NETUID, T_ACCOUNT, ZERO32),
    _map("SubtensorModule", "Tempo", (ID,), NETUID, T_U16, (360).to_bytes(2, "little")),
    _map("SubtensorModule", "NetworkRegisteredAt", (ID,), NETUID, T_U64, ZERO8),
    _map("SubtensorModule", "SubnetMechanism", (ID,), NETUID, T_U16, bytes(2)),
    _map("SubtensorModule", "SubnetTaoInEmission", (ID,), NETUID, T_U64, ZERO8),
    _map("SubtensorModule", "SubnetAlphaInEmission", (ID,), NETUID, T_U64, ZERO8),
    _map("SubtensorModule", "SubnetAlphaOutEmission", (ID,), NETUID, T_U64, ZERO8),
    _map(
        "SubtensorModule",
        "Keys",
        (ID, ID),
        (T_U16, T_U16),
        T_ACCOUNT,
        ZERO32,
        key=T_KEY_NET_UID,
    ),
    _map("SubtensorModule", "ValidatorPermit", (ID,), NETUID, T_VEC_BOOL, b"\x00"),
    _map("SubtensorModule", "Delegates", (B2,), (T_ACCOUNT,), T_U16, (11796).to_bytes(2, "little")),
    _map("SubtensorModule", "TotalHotkeyAlpha", (B2, ID), HOT_NET, T_U64, ZERO8, T_KEY_HOT_NET),
    _map(
        "SubtensorModule",
        "TotalHotkeyShares",
        (B2, ID),
        HOT_NET,
        T_FIXED_U128,
        ZERO16,
        T_KEY_HOT_NET,
    ),
    _map(
        "SubtensorModule",
        "TotalHotkeySharesV2",
        (B2, ID),
        HOT_NET,
        T_SAFE_FLOAT,
        ZERO16 + ZERO8,
        T_KEY_HOT_NET,
    ),
    _map(
        "SubtensorModule",
        "Alpha",
        (B2, B2, ID),
        HOT_COLD_NET,
        T_FIXED_U128,
        ZERO16,
        T_KEY_HOT_COLD_NET,
    ),
    _map(
        "SubtensorModule",
        "AlphaV2",
        (B2, B2, ID),
        HOT_COLD_NET,
        T_SAFE_FLOAT,
        ZERO16 + ZERO8,
        T_KEY_HOT_COLD_NET,
    ),
    _map("Swap", "FeeRate", ("Twox64Concat",), NETUID, T_U16, (33).to_bytes(2, "little")),
    _map(
        "Swap",
        "SwapBalancer",
        ("Twox64Concat",),
        NETUID,
        T_BALANCER,
        (5 * 10**17).to_bytes(8, "little"),
    ),
)

STORAGE_BY_NAME: dict[tuple[str, str], StorageItem] = {(s.pallet, s.name): s for s in STORAGE}
PALLET_INDEX = {"System": 0, "SubtensorModule": 7, "Swap": 28}


def _entry(item: StorageItem) -> dict[str, Any]:
    if item.hashers:
        kind: dict[str, Any] = {
            "Map": {"hashers": list(item.hashers), "key": item.key, "value": item.value}
        }
    else:
        kind = {"Plain": item.value}
    return {
        "name": item.name,
        "modifier": "Optional" if item.optional else "Default",
        "type": kind,
        "default": "0x" + (b"\x00" if item.optional else item.default).hex(),
        "documentation": [],
    }


def metadata_value() -> tuple[str, dict[str, Any]]:
    """The `MetadataVersioned` value: magic number and the V14 description."""
    types = [
        {"id": i, "type": {"path": path, "params": [], "def": d, "docs": []}}
        for i, (path, d) in sorted(TYPES.items())
    ]
    pallets = []
    for name, index in PALLET_INDEX.items():
        constants = []
        if name == "System":
            constants.append(
                {
                    "name": "SS58Prefix",
                    "type": T_U16,
                    "value": "0x" + SS58_FORMAT.to_bytes(2, "little").hex(),
                    "documentation": [],
                }
            )
        pallets.append(
            {
                "name": name,
                "storage": {
                    "prefix": name,
                    "entries": [_entry(s) for s in STORAGE if s.pallet == name],
                },
                "calls": None,
                "event": None,
                "constants": constants,
                "error": None,
                "index": index,
            }
        )
    v14 = {
        "types": {"types": types},
        "pallets": pallets,
        "extrinsic": {"ty": T_BYTES, "version": 4, "signed_extensions": []},
        "runtime_type": T_U8,
    }
    return ("0x6d657461", {"V14": v14})


def _runtime_config() -> RuntimeConfiguration:
    config = RuntimeConfiguration()
    config.update_type_registry(load_type_registry_preset("legacy"))
    config.update_type_registry(load_type_registry_preset("core"))
    return config


@cache
def metadata_hex() -> str:
    """SCALE-encoded metadata, as `state_getMetadata` returns it."""
    obj = _runtime_config().create_scale_object("MetadataVersioned")
    data = obj.encode(metadata_value())
    return "0x" + bytes(data.data).hex()


def decode_metadata(hex_data: str) -> Any:
    """Decode a `state_getMetadata` result (about a second for the real chain's)."""
    from scalecodec.base import ScaleBytes

    obj = _runtime_config().create_scale_object("MetadataVersioned", data=ScaleBytes(hex_data))
    obj.decode()
    return obj
