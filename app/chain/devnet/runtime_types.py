"""The runtime's types for the V14 metadata, declared by name with finney's paths and shapes.

Paths matter: scalecodec picks its decoders by path (`sp_core::crypto::AccountId32` for
accounts, `sp_runtime::generic::era::Era`, `*::RuntimeCall`, `*::RuntimeEvent`,
`*::EventRecord`, `sp_runtime::multiaddress::MultiAddress`) and finds the extrinsic's address
and signature types from the `UncheckedExtrinsic` parameters, so clients decode and sign for the
devnet as for finney.
"""

from collections.abc import Iterable
from typing import Any

from app.chain.devnet.pallets import (
    ACC,
    CALLS,
    ERRORS,
    EVENTS,
    IDENTITY_FIELDS,
    PALLET_INDEX,
    PALLET_TYPE_PATHS,
    RUNTIME,
    SIGNED_EXTENSIONS,
    Variant,
)
from app.chain.devnet.scale_info import Field, TypeRegistry


def build_registry() -> TypeRegistry:
    """Every type the metadata refers to, by the names `pallets.py` and the storage use."""
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
