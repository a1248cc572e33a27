"""The V14 runtime metadata the devnet serves, built here from a Python description.

Pallet names and indices, storage items (hashers, value types, defaults), calls (indices,
argument names and types), events (indices, fields in order), errors, constants and the signed
extensions are those of the real subtensor runtime for the parts the devnet implements (checked
against a recording of finney's metadata by `tests/chain/test_conformance.py`), so clients read
and sign for the devnet exactly as for finney. Type ids are the devnet's own; paths follow the
real runtime because scalecodec picks its decoders (accounts, eras, calls, events) by path.
"""

import threading
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from scalecodec.base import RuntimeConfigurationObject, ScaleBytes
from scalecodec.type_registry import load_type_registry_preset

from app.chain.devnet.scale_info import Field, TypeRegistry

SPEC_VERSION = 400
TRANSACTION_VERSION = 1
SS58_FORMAT = 42
EXISTENTIAL_DEPOSIT = 500  # rao, Balances::ExistentialDeposit (as on finney)
BLOCK_HASH_COUNT = 2400  # System::BlockHashCount: eras may start this far back
MINIMUM_PERIOD_MS = 6000  # Timestamp::MinimumPeriod (12 s slots)

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

# Pallets at finney's indices.
PALLET_INDEX = {
    "System": 0,
    "Timestamp": 2,
    "Balances": 5,
    "TransactionPayment": 6,
    "SubtensorModule": 7,
    "Swap": 28,
}

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
ACC = "AccountId32"
NEW_LOGIC_FLAG = 1 << 127  # pallet_balances ExtraFlags: accounts use the current logic
ACCOUNT_INFO_DEFAULT = bytes(16) + bytes(24) + NEW_LOGIC_FLAG.to_bytes(16, "little")
M = "SubtensorModule"


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

# --- calls, events, errors, constants ---------------------------------------------------------

Variant = tuple[int, str, list[Field]]
ACCOUNT_ID: Field = (None, ACC, "T::AccountId")
NETUID: Field = (None, "u16", "NetUid")
TAO: Field = (None, "u64", "TaoCurrency")


def _named_account(name: str) -> Field:
    return (name, ACC, "T::AccountId")


def _balance(name: str) -> Field:
    return (name, "u64", "T::Balance")


DEST: Field = ("dest", "MultiAddress", "AccountIdLookupOf<T>")
HOTKEY: Field = ("hotkey", ACC, "T::AccountId")
LIMIT: list[Field] = [("limit_price", "u64", "TaoCurrency"), ("allow_partial", "bool", "bool")]

CALLS: dict[str, list[Variant]] = {
    "System": [
        (0, "remark", [("remark", "Vec<u8>", "Vec<u8>")]),
        (7, "remark_with_event", [("remark", "Vec<u8>", "Vec<u8>")]),
    ],
    "Timestamp": [(0, "set", [("now", "Compact<u64>", "T::Moment")])],
    "Balances": [
        (0, "transfer_allow_death", [DEST, ("value", "Compact<u64>", "T::Balance")]),
        (3, "transfer_keep_alive", [DEST, ("value", "Compact<u64>", "T::Balance")]),
        (4, "transfer_all", [DEST, ("keep_alive", "bool", "bool")]),
    ],
    M: [
        (
            2,
            "add_stake",
            [HOTKEY, ("netuid", "u16", "NetUid"), ("amount_staked", "u64", "TaoCurrency")],
        ),
        (
            3,
            "remove_stake",
            [HOTKEY, ("netuid", "u16", "NetUid"), ("amount_unstaked", "u64", "AlphaCurrency")],
        ),
        (
            85,
            "move_stake",
            [
                ("origin_hotkey", ACC, "T::AccountId"),
                ("destination_hotkey", ACC, "T::AccountId"),
                ("origin_netuid", "u16", "NetUid"),
                ("destination_netuid", "u16", "NetUid"),
                ("alpha_amount", "u64", "AlphaCurrency"),
            ],
        ),
        (
            86,
            "transfer_stake",
            [
                ("destination_coldkey", ACC, "T::AccountId"),
                HOTKEY,
                ("origin_netuid", "u16", "NetUid"),
                ("destination_netuid", "u16", "NetUid"),
                ("alpha_amount", "u64", "AlphaCurrency"),
            ],
        ),
        (
            87,
            "swap_stake",
            [
                HOTKEY,
                ("origin_netuid", "u16", "NetUid"),
                ("destination_netuid", "u16", "NetUid"),
                ("alpha_amount", "u64", "AlphaCurrency"),
            ],
        ),
        (
            88,
            "add_stake_limit",
            [HOTKEY, ("netuid", "u16", "NetUid"), ("amount_staked", "u64", "TaoCurrency"), *LIMIT],
        ),
        (
            89,
            "remove_stake_limit",
            [
                HOTKEY,
                ("netuid", "u16", "NetUid"),
                ("amount_unstaked", "u64", "AlphaCurrency"),
                *LIMIT,
            ],
        ),
        (
            90,
            "swap_stake_limit",
            [
                HOTKEY,
                ("origin_netuid", "u16", "NetUid"),
                ("destination_netuid", "u16", "NetUid"),
                ("alpha_amount", "u64", "AlphaCurrency"),
                *LIMIT,
            ],
        ),
    ],
}

_WHO_AMOUNT = [_named_account("who"), _balance("amount")]
EVENTS: dict[str, list[Variant]] = {
    "System": [
        (0, "ExtrinsicSuccess", [("dispatch_info", "DispatchEventInfo", "DispatchEventInfo")]),
        (
            1,
            "ExtrinsicFailed",
            [
                ("dispatch_error", "DispatchError", "DispatchError"),
                ("dispatch_info", "DispatchEventInfo", "DispatchEventInfo"),
            ],
        ),
        (2, "CodeUpdated", []),
        (3, "NewAccount", [_named_account("account")]),
        (4, "KilledAccount", [_named_account("account")]),
        (5, "Remarked", [_named_account("sender"), ("hash", "H256", "T::Hash")]),
    ],
    "Balances": [
        (0, "Endowed", [_named_account("account"), _balance("free_balance")]),
        (1, "DustLost", [_named_account("account"), _balance("amount")]),
        (2, "Transfer", [_named_account("from"), _named_account("to"), _balance("amount")]),
        (3, "BalanceSet", [_named_account("who"), _balance("free")]),
        (4, "Reserved", _WHO_AMOUNT),
        (5, "Unreserved", _WHO_AMOUNT),
        (
            6,
            "ReserveRepatriated",
            [
                _named_account("from"),
                _named_account("to"),
                _balance("amount"),
                ("destination_status", "BalanceStatus", "Status"),
            ],
        ),
        (7, "Deposit", _WHO_AMOUNT),
        (8, "Withdraw", _WHO_AMOUNT),
        (9, "Slashed", _WHO_AMOUNT),
        (10, "Minted", _WHO_AMOUNT),
        (11, "Burned", _WHO_AMOUNT),
        (12, "Suspended", _WHO_AMOUNT),
        (13, "Restored", _WHO_AMOUNT),
        (14, "Upgraded", [_named_account("who")]),
        (15, "Issued", [_balance("amount")]),
        (16, "Rescinded", [_balance("amount")]),
        (17, "Locked", _WHO_AMOUNT),
        (18, "Unlocked", _WHO_AMOUNT),
        (19, "Frozen", _WHO_AMOUNT),
        (20, "Thawed", _WHO_AMOUNT),
        (21, "TotalIssuanceForced", [_balance("old"), _balance("new")]),
    ],
    "TransactionPayment": [
        (
            0,
            "TransactionFeePaid",
            [
                _named_account("who"),
                ("actual_fee", "u64", "BalanceOf<T>"),
                ("tip", "u64", "BalanceOf<T>"),
            ],
        ),
    ],
    M: [
        (0, "NetworkAdded", [NETUID, (None, "u16", "u16")]),
        (1, "NetworkRemoved", [NETUID]),
        (
            2,
            "StakeAdded",
            [
                ACCOUNT_ID,
                ACCOUNT_ID,
                TAO,
                (None, "u64", "AlphaCurrency"),
                NETUID,
                (None, "u64", "u64"),
            ],
        ),
        (
            3,
            "StakeRemoved",
            [
                ACCOUNT_ID,
                ACCOUNT_ID,
                TAO,
                (None, "u64", "AlphaCurrency"),
                NETUID,
                (None, "u64", "u64"),
            ],
        ),
        (4, "StakeMoved", [ACCOUNT_ID, ACCOUNT_ID, NETUID, ACCOUNT_ID, NETUID, TAO]),
        (85, "StakeTransferred", [ACCOUNT_ID, ACCOUNT_ID, ACCOUNT_ID, NETUID, NETUID, TAO]),
        (86, "StakeSwapped", [ACCOUNT_ID, ACCOUNT_ID, NETUID, NETUID, TAO]),
        # Newer than the November 2025 recording; index as in subtensor's source (June 2026).
        (
            123,
            "TransactionFeePaidWithAlpha",
            [
                _named_account("who"),
                ("netuid", "u16", "NetUid"),
                ("alpha_fee", "u64", "AlphaBalance"),
                ("tao_amount", "u64", "TaoBalance"),
            ],
        ),
    ],
}
EVENTS_NEWER_THAN_RECORDING = {(M, "TransactionFeePaidWithAlpha")}

# SubtensorModule's errors in index order (finney, November 2025).
SUBTENSOR_ERRORS = (
    "RootNetworkDoesNotExist",
    "InvalidIpType",
    "InvalidIpAddress",
    "InvalidPort",
    "HotKeyNotRegisteredInSubNet",
    "HotKeyAccountNotExists",
    "HotKeyNotRegisteredInNetwork",
    "NonAssociatedColdKey",
    "NotEnoughStake",
    "NotEnoughStakeToWithdraw",
    "NotEnoughStakeToSetWeights",
    "NotEnoughStakeToSetChildkeys",
    "NotEnoughBalanceToStake",
    "BalanceWithdrawalError",
    "ZeroBalanceAfterWithdrawn",
    "NeuronNoValidatorPermit",
    "WeightVecNotEqualSize",
    "DuplicateUids",
    "UidVecContainInvalidOne",
    "WeightVecLengthIsLow",
    "TooManyRegistrationsThisBlock",
    "HotKeyAlreadyRegisteredInSubNet",
    "NewHotKeyIsSameWithOld",
    "InvalidWorkBlock",
    "InvalidDifficulty",
    "InvalidSeal",
    "MaxWeightExceeded",
    "HotKeyAlreadyDelegate",
    "SettingWeightsTooFast",
    "IncorrectWeightVersionKey",
    "ServingRateLimitExceeded",
    "UidsLengthExceedUidsInSubNet",
    "NetworkTxRateLimitExceeded",
    "DelegateTxRateLimitExceeded",
    "HotKeySetTxRateLimitExceeded",
    "StakingRateLimitExceeded",
    "SubNetRegistrationDisabled",
    "TooManyRegistrationsThisInterval",
    "TransactorAccountShouldBeHotKey",
    "FaucetDisabled",
    "NotSubnetOwner",
    "RegistrationNotPermittedOnRootSubnet",
    "StakeTooLowForRoot",
    "AllNetworksInImmunity",
    "NotEnoughBalanceToPaySwapHotKey",
    "NotRootSubnet",
    "CanNotSetRootNetworkWeights",
    "NoNeuronIdAvailable",
    "DelegateTakeTooLow",
    "DelegateTakeTooHigh",
    "NoWeightsCommitFound",
    "InvalidRevealCommitHashNotMatch",
    "CommitRevealEnabled",
    "CommitRevealDisabled",
    "LiquidAlphaDisabled",
    "AlphaHighTooLow",
    "AlphaLowOutOfRange",
    "ColdKeyAlreadyAssociated",
    "NotEnoughBalanceToPaySwapColdKey",
    "ColdkeyIsInArbitration",
    "InvalidChild",
    "DuplicateChild",
    "ProportionOverflow",
    "TooManyChildren",
    "TxRateLimitExceeded",
    "SwapAlreadyScheduled",
    "FailedToSchedule",
    "NewColdKeyIsHotkey",
    "InvalidChildkeyTake",
    "TxChildkeyTakeRateLimitExceeded",
    "InvalidIdentity",
    "MechanismDoesNotExist",
    "CannotUnstakeLock",
    "SubnetNotExists",
    "TooManyUnrevealedCommits",
    "ExpiredWeightCommit",
    "RevealTooEarly",
    "InputLengthsUnequal",
    "CommittingWeightsTooFast",
    "AmountTooLow",
    "InsufficientLiquidity",
    "SlippageTooHigh",
    "TransferDisallowed",
    "ActivityCutoffTooLow",
    "CallDisabled",
    "FirstEmissionBlockNumberAlreadySet",
    "NeedWaitingMoreBlocksToStarCall",
    "NotEnoughAlphaOutToRecycle",
    "CannotBurnOrRecycleOnRootSubnet",
    "UnableToRecoverPublicKey",
    "InvalidRecoveredPublicKey",
    "SubtokenDisabled",
    "HotKeySwapOnSubnetIntervalNotPassed",
    "ZeroMaxStakeAmount",
    "SameNetuid",
    "InsufficientBalance",
    "StakingOperationRateLimitExceeded",
    "InvalidLeaseBeneficiary",
    "LeaseCannotEndInThePast",
    "LeaseNetuidNotFound",
    "LeaseDoesNotExist",
    "LeaseHasNoEndBlock",
    "LeaseHasNotEnded",
    "Overflow",
    "BeneficiaryDoesNotOwnHotkey",
    "ExpectedBeneficiaryOrigin",
    "AdminActionProhibitedDuringWeightsWindow",
    "SymbolDoesNotExist",
    "SymbolAlreadyInUse",
    "IncorrectCommitRevealVersion",
    "RevealPeriodTooLarge",
    "RevealPeriodTooSmall",
    "InvalidValue",
    "SubnetLimitReached",
    "CannotAffordLockCost",
    "EvmKeyAssociateRateLimitExceeded",
    "SameAutoStakeHotkeyAlreadySet",
    "UidMapCouldNotBeCleared",
    "TrimmingWouldExceedMaxImmunePercentage",
    "ChildParentInconsistency",
    "InvalidNumRootClaim",
    "InvalidRootClaimThreshold",
    "InvalidSubnetNumber",
)

ERRORS: dict[str, list[tuple[int, str]]] = {
    "System": list(
        enumerate(
            (
                "InvalidSpecName",
                "SpecVersionNeedsToIncrease",
                "FailedToExtractRuntimeVersion",
                "NonDefaultComposite",
                "NonZeroRefCount",
                "CallFiltered",
                "MultiBlockMigrationsOngoing",
                "NothingAuthorized",
                "Unauthorized",
            )
        )
    ),
    "Balances": list(
        enumerate(
            (
                "VestingBalance",
                "LiquidityRestrictions",
                "InsufficientBalance",
                "ExistentialDeposit",
                "Expendability",
                "ExistingVestingSchedule",
                "DeadAccount",
                "TooManyReserves",
                "TooManyHolds",
                "TooManyFreezes",
                "IssuanceDeactivated",
                "DeltaZero",
            )
        )
    ),
    # Every error of the pallet, dense (clients look errors up by position), as on finney.
    M: list(enumerate(SUBTENSOR_ERRORS)),
    "Swap": list(
        enumerate(
            (
                "FeeRateTooHigh",
                "InsufficientInputAmount",
                "InsufficientLiquidity",
                "PriceLimitExceeded",
                "InsufficientBalance",
                "LiquidityNotFound",
                "InvalidTickRange",
                "MaxPositionsExceeded",
                "TooManySwapSteps",
                "InvalidLiquidityValue",
                "ReservesTooLow",
                "MechanismDoesNotExist",
                "UserLiquidityDisabled",
                "SubtokenDisabled",
            )
        )
    ),
}

CONSTANTS: dict[str, list[tuple[str, str, bytes]]] = {
    "System": [
        ("BlockHashCount", "u32", BLOCK_HASH_COUNT.to_bytes(4, "little")),
        ("SS58Prefix", "u16", SS58_FORMAT.to_bytes(2, "little")),
    ],
    "Timestamp": [("MinimumPeriod", "u64", MINIMUM_PERIOD_MS.to_bytes(8, "little"))],
    "Balances": [("ExistentialDeposit", "u64", EXISTENTIAL_DEPOSIT.to_bytes(8, "little"))],
    "TransactionPayment": [("OperationalFeeMultiplier", "u8", bytes([5]))],
}

# Signed extensions, in finney's order: (identifier, extra type, implicit ("additional") type).
SIGNED_EXTENSIONS: tuple[tuple[str, str, str], ...] = (
    ("CheckNonZeroSender", "CheckNonZeroSender", "()"),
    ("CheckSpecVersion", "CheckSpecVersion", "u32"),
    ("CheckTxVersion", "CheckTxVersion", "u32"),
    ("CheckGenesis", "CheckGenesis", "H256"),
    ("CheckMortality", "CheckMortality", "H256"),
    ("CheckNonce", "CheckNonce", "()"),
    ("CheckWeight", "CheckWeight", "()"),
    ("ChargeTransactionPayment", "ChargeTransactionPayment", "()"),
    ("SubtensorTransactionExtension", "SubtensorTransactionExtension", "()"),
    ("DrandPriority", "DrandPriority", "()"),
    ("CheckMetadataHash", "CheckMetadataHash", "Option<[u8; 32]>"),
)

PALLET_TYPE_PATHS = {
    "System": "frame_system",
    "Timestamp": "pallet_timestamp",
    "Balances": "pallet_balances",
    "TransactionPayment": "pallet_transaction_payment",
    M: "pallet_subtensor",
    "Swap": "pallet_subtensor_swap",
}
RUNTIME = "node_subtensor_runtime"


def call_index(pallet: str, call: str) -> bytes:
    """The two bytes that start an encoded call."""
    return bytes([PALLET_INDEX[pallet], _index(CALLS[pallet], call)])


def event_index(pallet: str, event: str) -> bytes:
    return bytes([PALLET_INDEX[pallet], _index(EVENTS[pallet], event)])


def error_index(pallet: str, error: str) -> tuple[int, int]:
    return PALLET_INDEX[pallet], next(i for i, n in ERRORS[pallet] if n == error)


def _index(variants: Iterable[Variant], name: str) -> int:
    for index, variant_name, _ in variants:
        if variant_name == name:
            return index
    raise KeyError(name)


# --- the type registry ------------------------------------------------------------------------


def _registry() -> TypeRegistry:
    reg = TypeRegistry()
    c, v = reg.composite, reg.variant

    def newtype(name: str, path: list[str], inner: str, rust: str | None = None) -> None:
        reg.declare(name, path, lambda: c((None, inner, rust or inner)))

    newtype(ACC, ["sp_core", "crypto", "AccountId32"], "[u8; 32]")
    newtype("H256", ["primitive_types", "H256"], "[u8; 32]")
    reg.declare("I96F32", ["substrate_fixed", "FixedI128"], lambda: c(("bits", "i128", "i128")))
    reg.declare("U64F64", ["substrate_fixed", "FixedU128"], lambda: c(("bits", "u128", "u128")))
    newtype("FixedU128", ["sp_arithmetic", "fixed_point", "FixedU128"], "u128")
    reg.declare(
        "SubnetIdentityV3",
        ["pallet_subtensor", "pallet", "SubnetIdentityV3"],
        lambda: c(*((name, "Vec<u8>", "Vec<u8>") for name in IDENTITY_FIELDS)),
    )
    reg.declare(
        "SafeFloat",
        ["share_pool", "SafeFloat"],
        lambda: c(("mantissa", "u128", "u128"), ("exponent", "i64", "i64")),
    )
    newtype("Perquintill", ["sp_arithmetic", "per_things", "Perquintill"], "u64")
    reg.declare(
        "Balancer",
        ["pallet_subtensor_swap", "pallet", "balancer", "Balancer"],
        lambda: c(("quote", "Perquintill", "Perquintill")),
    )

    # Accounts.
    newtype("ExtraFlags", ["pallet_balances", "types", "ExtraFlags"], "u128")
    reg.declare(
        "AccountData",
        ["pallet_balances", "types", "AccountData"],
        lambda: c(
            ("free", "u64", "Balance"),
            ("reserved", "u64", "Balance"),
            ("frozen", "u64", "Balance"),
            ("flags", "ExtraFlags", "ExtraFlags"),
        ),
        (("Balance", "u64"),),
    )
    reg.declare(
        "AccountInfo",
        ["frame_system", "AccountInfo"],
        lambda: c(
            ("nonce", "u32", "Nonce"),
            ("consumers", "u32", "RefCount"),
            ("providers", "u32", "RefCount"),
            ("sufficients", "u32", "RefCount"),
            ("data", "AccountData", "AccountData"),
        ),
        (("Nonce", "u32"), ("AccountData", "AccountData")),
    )

    # Dispatch results.
    reg.declare(
        "Weight",
        ["sp_weights", "weight_v2", "Weight"],
        lambda: c(("ref_time", "Compact<u64>", "u64"), ("proof_size", "Compact<u64>", "u64")),
    )
    reg.declare(
        "DispatchClass",
        ["frame_support", "dispatch", "DispatchClass"],
        lambda: v((0, "Normal", []), (1, "Operational", []), (2, "Mandatory", [])),
    )
    reg.declare(
        "Pays", ["frame_support", "dispatch", "Pays"], lambda: v((0, "Yes", []), (1, "No", []))
    )
    reg.declare(
        "DispatchEventInfo",
        ["frame_system", "DispatchEventInfo"],
        lambda: c(
            ("weight", "Weight", "Weight"),
            ("class", "DispatchClass", "DispatchClass"),
            ("pays_fee", "Pays", "Pays"),
        ),
    )
    reg.declare(
        "ModuleError",
        ["sp_runtime", "ModuleError"],
        lambda: c(
            ("index", "u8", "u8"), ("error", "[u8; 4]", "[u8; MAX_MODULE_ERROR_ENCODED_SIZE]")
        ),
    )

    def unit_enum(name: str, path: list[str], names: Iterable[str]) -> None:
        variants: list[Variant] = [(i, n, []) for i, n in enumerate(names)]
        reg.declare(name, path, lambda: v(*variants))

    unit_enum(
        "TokenError",
        ["sp_runtime", "TokenError"],
        (
            "FundsUnavailable",
            "OnlyProvider",
            "BelowMinimum",
            "CannotCreate",
            "UnknownAsset",
            "Frozen",
            "Unsupported",
            "CannotCreateHold",
            "NotExpendable",
            "Blocked",
        ),
    )
    unit_enum(
        "ArithmeticError",
        ["sp_arithmetic", "ArithmeticError"],
        ("Underflow", "Overflow", "DivisionByZero"),
    )
    unit_enum(
        "TransactionalError", ["sp_runtime", "TransactionalError"], ("LimitReached", "NoLayer")
    )
    unit_enum(
        "TrieError",
        ["sp_runtime", "proving_trie", "TrieError"],
        (
            "InvalidStateRoot",
            "IncompleteDatabase",
            "ValueAtIncompleteKey",
            "DecoderError",
            "InvalidHash",
            "DuplicateKey",
            "ExtraneousNode",
            "ExtraneousValue",
            "ExtraneousHashReference",
            "InvalidChildReference",
            "ValueMismatch",
            "IncompleteProof",
            "RootMismatch",
            "DecodeError",
        ),
    )
    reg.declare(
        "DispatchError",
        ["sp_runtime", "DispatchError"],
        lambda: v(
            (0, "Other", []),
            (1, "CannotLookup", []),
            (2, "BadOrigin", []),
            (3, "Module", [(None, "ModuleError", "ModuleError")]),
            (4, "ConsumerRemaining", []),
            (5, "NoProviders", []),
            (6, "TooManyConsumers", []),
            (7, "Token", [(None, "TokenError", "TokenError")]),
            (8, "Arithmetic", [(None, "ArithmeticError", "ArithmeticError")]),
            (9, "Transactional", [(None, "TransactionalError", "TransactionalError")]),
            (10, "Exhausted", []),
            (11, "Corruption", []),
            (12, "Unavailable", []),
            (13, "RootNotAllowed", []),
            (14, "Trie", [(None, "TrieError", "TrieError")]),
        ),
    )
    unit_enum(
        "BalanceStatus",
        ["frame_support", "traits", "tokens", "misc", "BalanceStatus"],
        ("Free", "Reserved"),
    )

    # Per-pallet calls, events and errors; the runtime's outer enums.
    for pallet, variants in CALLS.items():
        reg.declare(
            f"{pallet}Call", [PALLET_TYPE_PATHS[pallet], "pallet", "Call"], _enum(reg, variants)
        )
    for pallet, variants in EVENTS.items():
        reg.declare(
            f"{pallet}Event", [PALLET_TYPE_PATHS[pallet], "pallet", "Event"], _enum(reg, variants)
        )
    for pallet, errors in ERRORS.items():
        error_variants: list[Variant] = [(i, n, []) for i, n in errors]
        reg.declare(
            f"{pallet}Error",
            [PALLET_TYPE_PATHS[pallet], "pallet", "Error"],
            _enum(reg, error_variants),
        )
    reg.declare(
        "RuntimeCall",
        [RUNTIME, "RuntimeCall"],
        _enum(reg, [(PALLET_INDEX[p], p, [(None, f"{p}Call", None)]) for p in CALLS]),
    )
    reg.declare(
        "RuntimeEvent",
        [RUNTIME, "RuntimeEvent"],
        _enum(reg, [(PALLET_INDEX[p], p, [(None, f"{p}Event", None)]) for p in EVENTS]),
    )
    reg.declare(
        "Phase",
        ["frame_system", "Phase"],
        lambda: v(
            (0, "ApplyExtrinsic", [(None, "u32", "u32")]),
            (1, "Finalization", []),
            (2, "Initialization", []),
        ),
    )
    reg.declare(
        "EventRecord",
        ["frame_system", "EventRecord"],
        lambda: c(
            ("phase", "Phase", "Phase"),
            ("event", "RuntimeEvent", "E"),
            ("topics", "Vec<H256>", "Vec<T>"),
        ),
        (("E", "RuntimeEvent"), ("T", "H256")),
    )

    # Extrinsics.
    reg.declare(
        "MultiAddress",
        ["sp_runtime", "multiaddress", "MultiAddress"],
        lambda: v(
            (0, "Id", [(None, ACC, "AccountId")]),
            (1, "Index", [(None, "Compact<()>", "AccountIndex")]),
            (2, "Raw", [(None, "Vec<u8>", "Vec<u8>")]),
            (3, "Address32", [(None, "[u8; 32]", "[u8; 32]")]),
            (4, "Address20", [(None, "[u8; 20]", "[u8; 20]")]),
        ),
        (("AccountId", ACC), ("AccountIndex", "()")),
    )
    reg.declare(
        "MultiSignature",
        ["sp_runtime", "MultiSignature"],
        lambda: v(
            (0, "Ed25519", [(None, "[u8; 64]", "ed25519::Signature")]),
            (1, "Sr25519", [(None, "[u8; 64]", "sr25519::Signature")]),
            (2, "Ecdsa", [(None, "[u8; 65]", "ecdsa::Signature")]),
        ),
    )
    eras: list[Variant] = [(0, "Immortal", [])]
    eras += [(i, f"Mortal{i}", [(None, "u8", None)]) for i in range(1, 256)]
    reg.declare("Era", ["sp_runtime", "generic", "era", "Era"], lambda: v(*eras))
    reg.declare(
        "Mode",
        ["frame_metadata_hash_extension", "Mode"],
        lambda: v((0, "Disabled", []), (1, "Enabled", [])),
    )
    extension_paths: dict[str, tuple[list[str], list[Field]]] = {
        "CheckNonZeroSender": (["frame_system", "extensions", "check_non_zero_sender"], []),
        "CheckSpecVersion": (["frame_system", "extensions", "check_spec_version"], []),
        "CheckTxVersion": (["frame_system", "extensions", "check_tx_version"], []),
        "CheckGenesis": (["frame_system", "extensions", "check_genesis"], []),
        "CheckMortality": (
            ["frame_system", "extensions", "check_mortality"],
            [(None, "Era", "Era")],
        ),
        "CheckNonce": ([RUNTIME, "check_nonce"], [(None, "Compact<u32>", "T::Nonce")]),
        "CheckWeight": (["frame_system", "extensions", "check_weight"], []),
        "ChargeTransactionPayment": (
            ["pallet_transaction_payment"],
            [(None, "Compact<u64>", "BalanceOf<T>")],
        ),
        "SubtensorTransactionExtension": (["pallet_subtensor", "transaction_extension"], []),
        "DrandPriority": (["pallet_drand", "drand_priority"], []),
        "CheckMetadataHash": (["frame_metadata_hash_extension"], [("mode", "Mode", "Mode")]),
    }
    for name, (module, fields) in extension_paths.items():
        reg.declare(name, [*module, name], _struct(reg, fields), (("T", None),))
    reg.declare(
        "ChargeTransactionPaymentWrapper",
        [RUNTIME, "transaction_payment_wrapper", "ChargeTransactionPaymentWrapper"],
        lambda: c(
            (
                "charge_transaction_payment",
                "ChargeTransactionPayment",
                "ChargeTransactionPayment<T>",
            )
        ),
        (("T", None),),
    )
    in_tuple = [
        n if n != "ChargeTransactionPayment" else "ChargeTransactionPaymentWrapper"
        for n, _, _ in SIGNED_EXTENSIONS
    ]
    extension_tuple = "(" + ", ".join(in_tuple) + ")"
    generic_params = (
        ("Address", "MultiAddress"),
        ("Call", "RuntimeCall"),
        ("Signature", "MultiSignature"),
    )
    reg.declare(
        "GenericUncheckedExtrinsic",
        ["sp_runtime", "generic", "unchecked_extrinsic", "UncheckedExtrinsic"],
        lambda: c((None, "Vec<u8>", None)),
        (*generic_params, ("Extra", extension_tuple)),
    )
    reg.declare(
        "UncheckedExtrinsic",
        ["fp_self_contained", "unchecked_extrinsic", "UncheckedExtrinsic"],
        lambda: c(
            (
                None,
                "GenericUncheckedExtrinsic",
                "generic::UncheckedExtrinsic<Address, Call, Signature, Extension>",
            )
        ),
        (*generic_params, ("Extension", extension_tuple)),
    )
    return reg


def _enum(reg: TypeRegistry, variants: list[Variant]) -> Any:
    return lambda: reg.variant(*variants)


def _struct(reg: TypeRegistry, fields: list[Field]) -> Any:
    return lambda: reg.composite(*fields)


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
    reg = _registry()
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
    obj = _base_config().create_scale_object("MetadataVersioned")
    data = obj.encode(metadata_value())
    return "0x" + bytes(data.data).hex()


def decode_metadata(hex_data: str) -> Any:
    """Decode a `state_getMetadata` result (about a second for the real chain's)."""
    obj = _base_config().create_scale_object("MetadataVersioned", data=ScaleBytes(hex_data))
    obj.decode()
    return obj


class CallDecoder:
    """The devnet's own metadata with a scalecodec configuration that decodes calls as a client
    would. One is shared (`call_decoder()`); decoding is serialised by its lock."""

    def __init__(self) -> None:
        self.metadata = decode_metadata(metadata_hex())
        self.config = _base_config()
        self.config.add_portable_registry(self.metadata)
        self._lock = threading.Lock()

    def decode_call(self, data: bytes) -> tuple[dict[str, Any], int]:
        """A call's module, function and arguments, and the number of bytes it took."""
        with self._lock:
            obj = self.config.create_scale_object(
                "Call", data=ScaleBytes(data), metadata=self.metadata
            )
            value = obj.decode(check_remaining=False)
            return value, obj.data.offset


@cache
def call_decoder() -> CallDecoder:
    """The shared decoder, built on first use (decoding the metadata takes a few 100 ms)."""
    return CallDecoder()
