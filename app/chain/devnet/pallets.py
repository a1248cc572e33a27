"""What the devnet's runtime declares, pallet by pallet, as finney's runtime does.

Pallets at finney's indices; their calls (indices, argument names, types and Rust type names),
events (indices, fields in order), errors and constants, and the signed extensions. Type names
are resolved by `runtime_types.py`; `tests/chain/test_conformance.py` checks every entry here
against a recording of finney's metadata.
"""

from collections.abc import Iterable

from app.chain.devnet.scale_info import Field

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

ACC = "AccountId32"
M = "SubtensorModule"

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
        (
            131,
            "EpochTriggered",
            [("netuid", "u16", "NetUid"), _named_account("by"), ("fires_at", "u64", "u64")],
        ),
        (
            132,
            "EpochDeferred",
            [
                ("netuid", "u16", "NetUid"),
                ("from_block", "u64", "u64"),
                ("to_block", "u64", "u64"),
            ],
        ),
    ],
}
EVENTS_NEWER_THAN_RECORDING = {
    (M, "TransactionFeePaidWithAlpha"),
    (M, "EpochTriggered"),
    (M, "EpochDeferred"),
}

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
