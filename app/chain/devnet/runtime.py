"""The devnet's runtime: transaction validity, fees, and applying extrinsics to the state.

Validity follows the signed extensions in finney's order. A transaction is refused (JSON-RPC
1010 with Substrate's reason) when its era's birth block is unknown (`AncientBirthBlock`: born
in the future, or more than `BlockHashCount` blocks ago), its signature does not cover what it
says (`BadProof`; an expired era lands here too: its birth block is recomputed from the current
block, so the signed block hash no longer matches, exactly as on Substrate), its signer is zero
(`BadSigner`), the account does not exist or cannot pay the fee (`Payment`, as subtensor's
`CheckNonce`), its nonce is used (`Stale`). A nonce ahead of the account's waits in the pool
(`Future` when a block is built).

Fees (a simple model after subtensor's: `LinearWeightToFee`, `IdentityFee` for length,
multiplier 1): fee = base + length + weight + tip, where base = ExtrinsicBaseWeight / 2000,
length = 1 rao per byte of the encoded extrinsic, weight = the call's ref_time / 2000 (weights
in `CALL_WEIGHTS`, from subtensor's benchmarks plus its database reads and writes). The fee
(and tip) is withdrawn from free TAO before dispatch (`Balances.Withdraw`) and paid to the block
author after it (`Balances.Deposit`), then `TransactionPayment.TransactionFeePaid(who,
actual_fee, tip)`, whether the call succeeded or not. Staking calls that sell alpha pay in
alpha when free TAO is short (subtensor's `SubtensorTxFeeHandler`):
`SubtensorModule.TransactionFeePaidWithAlpha`.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from scalecodec.utils.ss58 import ss58_decode

from app.chain import codec
from app.chain.devnet.balances import Balances
from app.chain.devnet.events import DispatchError, DispatchInfo, Events
from app.chain.devnet.extrinsics import Extrinsic, signature_is_valid, signing_payload
from app.chain.devnet.metadata import BLOCK_HASH_COUNT, SS58_FORMAT, call_index
from app.chain.devnet.staking import Staking
from app.chain.devnet.state import Journal, State

EXTRINSIC_BASE_WEIGHT = 108_157_000  # ref_time, finney's BlockWeights base_extrinsic
REF_TIME_PER_RAO = 2000  # LinearWeightToFee: Perbill::from_parts(500_000) rao per ref_time
DB_READ, DB_WRITE = 25_000_000, 100_000_000  # RocksDbWeight
TIMESTAMP_SET_WEIGHT = 9_000_000 + DB_READ + DB_WRITE
MAX_BLOCK_REF_TIME = 3_000_000_000_000  # the Normal class's share of a block (75% of 4e12)


def _weight(ref_time: int, reads: int, writes: int, proof_size: int) -> tuple[int, int]:
    return ref_time + reads * DB_READ + writes * DB_WRITE, proof_size


# (ref_time, proof_size) of each call: subtensor's benchmark weights with their DB accesses.
CALL_WEIGHTS: dict[tuple[str, str], tuple[int, int]] = {
    ("System", "remark"): (2_000_000, 0),
    ("System", "remark_with_event"): (7_000_000, 0),
    ("Timestamp", "set"): (TIMESTAMP_SET_WEIGHT, 1493),
    ("Balances", "transfer_allow_death"): _weight(49_000_000, 1, 1, 3593),
    ("Balances", "transfer_keep_alive"): _weight(38_000_000, 1, 1, 3593),
    ("Balances", "transfer_all"): _weight(47_000_000, 1, 1, 3593),
    ("SubtensorModule", "add_stake"): _weight(664_064_000, 32, 16, 8727),
    ("SubtensorModule", "remove_stake"): _weight(569_198_000, 28, 13, 10557),
    ("SubtensorModule", "add_stake_limit"): _weight(853_005_000, 32, 16, 8727),
    ("SubtensorModule", "remove_stake_limit"): _weight(740_696_000, 27, 13, 10591),
    ("SubtensorModule", "move_stake"): _weight(216_061_000, 19, 7, 7919),
    ("SubtensorModule", "transfer_stake"): _weight(258_541_000, 19, 6, 7994),
    ("SubtensorModule", "swap_stake"): _weight(742_019_000, 47, 24, 10920),
    ("SubtensorModule", "swap_stake_limit"): _weight(944_515_000, 47, 24, 11077),
}

# Calls whose fee may be taken in alpha: (hotkey argument, netuid argument).
ALPHA_FEE_CALLS: dict[str, tuple[str, str]] = {
    "remove_stake": ("hotkey", "netuid"),
    "remove_stake_limit": ("hotkey", "netuid"),
    "move_stake": ("origin_hotkey", "origin_netuid"),
    "transfer_stake": ("hotkey", "origin_netuid"),
    "swap_stake": ("hotkey", "origin_netuid"),
    "swap_stake_limit": ("hotkey", "origin_netuid"),
}

INVALID_TRANSACTION = {
    "Call": "Transaction call is not expected",
    "Payment": "Inability to pay some fees (e.g. account balance too low)",
    "Future": "Transaction will be valid in the future",
    "Stale": "Transaction is outdated",
    "BadProof": "Transaction has a bad signature",
    "AncientBirthBlock": "Transaction has an ancient birth block",
    "ExhaustsResources": "Transaction would exhaust the block limits",
    "BadSigner": "Invalid signing address",
}


class InvalidTransaction(Exception):
    """`TransactionValidityError::Invalid`: never included, refused with JSON-RPC 1010."""

    def __init__(self, reason: str) -> None:
        super().__init__(INVALID_TRANSACTION[reason])
        self.reason = reason  # the variant's name: "BadProof", "Stale", ...
        self.message = INVALID_TRANSACTION[reason]


class UnknownTransaction(Exception):
    """`TransactionValidityError::Unknown`: refused with JSON-RPC 1011."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Fee:
    base: int
    length: int
    weight: int
    tip: int

    @property
    def partial(self) -> int:
        """What `payment_queryInfo` calls `partialFee`: everything but the tip."""
        return self.base + self.length + self.weight

    @property
    def total(self) -> int:
        return self.partial + self.tip


@dataclass(frozen=True, slots=True)
class Validity:
    priority: int
    requires: tuple[bytes, ...]
    provides: tuple[bytes, ...]
    longevity: int  # blocks


def weight_to_fee(ref_time: int) -> int:
    return ref_time // REF_TIME_PER_RAO


def call_weight(xt: Extrinsic) -> tuple[int, int]:
    return CALL_WEIGHTS[(xt.pallet, xt.function)]


def account_arg(value: Any) -> bytes:
    """An `AccountId` argument as scalecodec decoded it (hex, or SS58 with a format set)."""
    if isinstance(value, str) and value.startswith("0x"):
        return bytes.fromhex(value[2:])
    return bytes.fromhex(ss58_decode(str(value), SS58_FORMAT))


def timestamp_call(now_ms: int) -> bytes:
    return call_index("Timestamp", "set") + codec.compact(now_ms)


class Executive:
    """Validates and applies extrinsics on a `State`. `block_hash(n)` answers the hash of a
    block the chain has produced (None if unknown); the caller holds the chain's lock."""

    def __init__(
        self,
        state: State,
        block_hash: Callable[[int], bytes | None],
        author: bytes,
    ) -> None:
        self.state = state
        self.block_hash = block_hash
        self.author = author

    # --- fees ---------------------------------------------------------------------------------

    def fee(self, xt: Extrinsic, length: int | None = None) -> Fee:
        """The fee of `xt` (charged for `length` bytes: its own length unless given)."""
        ref_time, _ = call_weight(xt)
        return Fee(
            base=weight_to_fee(EXTRINSIC_BASE_WEIGHT),
            length=xt.length if length is None else length,
            weight=weight_to_fee(ref_time),
            tip=xt.tip,
        )

    def dispatch_info(self, xt: Extrinsic) -> DispatchInfo:
        ref_time, proof_size = call_weight(xt)
        return DispatchInfo(ref_time + EXTRINSIC_BASE_WEIGHT, proof_size)

    def query_info(self, xt: Extrinsic) -> dict[str, Any]:
        """`payment_queryInfo`: the call's weight and the fee without tip, as a string."""
        ref_time, proof_size = call_weight(xt)
        partial = self.fee(xt).partial if xt.signer is not None else 0
        return {
            "weight": {"ref_time": ref_time, "proof_size": proof_size},
            "class": "normal",
            "partialFee": str(partial),
        }

    def query_fee_details(self, xt: Extrinsic) -> dict[str, Any]:
        if xt.signer is None:
            return {"inclusionFee": None, "tip": 0}
        fee = self.fee(xt)
        return {
            "inclusionFee": {
                "baseFee": fee.base,
                "lenFee": fee.length,
                "adjustedWeightFee": fee.weight,
            },
            "tip": 0,
        }

    # --- validity -----------------------------------------------------------------------------

    def validate(self, xt: Extrinsic, current: int) -> Validity:
        """Whether `xt` may enter the pool, for the block `current` (the head's child)."""
        signer = self._check_signed(xt, current)
        account = self.state.accounts.get(signer)
        if account is None:
            raise InvalidTransaction("Payment")  # CheckNonce: no providers, no sufficients
        if xt.nonce < account.nonce:
            raise InvalidTransaction("Stale")
        if self._fee_source(xt, self.fee(xt).total) is None:
            raise InvalidTransaction("Payment")
        longevity = xt.era.death(current) - current if xt.era else 2**64 - 1
        requires = (signer + codec.u32(xt.nonce - 1),) if xt.nonce > account.nonce else ()
        return Validity(
            priority=xt.tip,
            requires=requires,
            provides=(signer + codec.u32(xt.nonce),),
            longevity=longevity,
        )

    def _check_signed(self, xt: Extrinsic, current: int) -> bytes:
        if xt.signer is None:
            raise UnknownTransaction("NoUnsignedValidator")
        birth = xt.era.birth(current) if xt.era else 0
        birth_hash = self._known_hash(birth, current)
        genesis = self.block_hash(0)
        if birth_hash is None or genesis is None:
            raise InvalidTransaction("AncientBirthBlock")
        if not signature_is_valid(xt, signing_payload(xt, genesis, birth_hash)):
            raise InvalidTransaction("BadProof")
        if xt.signer == bytes(32):
            raise InvalidTransaction("BadSigner")
        return xt.signer

    def _known_hash(self, number: int, current: int) -> bytes | None:
        """`System::BlockHash[number]` while building block `current`: the genesis and the
        last `BlockHashCount` blocks before it."""
        if number != 0 and not current - BLOCK_HASH_COUNT <= number < current:
            return None
        return self.block_hash(number)

    def _fee_source(self, xt: Extrinsic, fee: int) -> str | tuple[bytes, int] | None:
        """ "tao", the (hotkey, netuid) stake that pays in alpha, or None: cannot pay."""
        assert xt.signer is not None
        balances = Balances(self.state, Journal(), Events())
        if balances.can_pay(xt.signer, fee):
            return "tao"
        names = ALPHA_FEE_CALLS.get(xt.function) if xt.pallet == "SubtensorModule" else None
        if names is None:
            return None
        hotkey, netuid = account_arg(xt.args[names[0]]), int(xt.args[names[1]])
        subnet = self.state.subnets.get(netuid)
        if subnet is None or not subnet.subtoken_enabled:
            return None
        staking = Staking(self.state, Journal(), Events(), balances, self.author)
        if self.state.stake(hotkey, xt.signer, netuid) >= staking.alpha_for_tao(netuid, fee):
            return (hotkey, netuid)
        return None

    # --- application --------------------------------------------------------------------------

    def apply_inherent_timestamp(self, now_ms: int, index: int, events: Events) -> None:
        events.apply_extrinsic(index)
        info = DispatchInfo(TIMESTAMP_SET_WEIGHT + EXTRINSIC_BASE_WEIGHT, 1493, "Mandatory")
        events.extrinsic_success(info)

    def apply(self, xt: Extrinsic, index: int, events: Events, current: int) -> None:
        """Include `xt` as extrinsic `index` of block `current`; raises InvalidTransaction if
        it cannot be included (nothing changed then). A failing call is included, its fee
        paid and its effects rolled back (`System.ExtrinsicFailed`)."""
        signer = self._check_signed(xt, current)
        account = self.state.accounts.get(signer)
        if account is None:
            raise InvalidTransaction("Payment")
        if xt.nonce < account.nonce:
            raise InvalidTransaction("Stale")
        if xt.nonce > account.nonce:
            raise InvalidTransaction("Future")
        fee = self.fee(xt)
        source = self._fee_source(xt, fee.total)
        if source is None:
            raise InvalidTransaction("Payment")

        events.apply_extrinsic(index)
        account.nonce += 1
        kept = Journal()  # changes outside the dispatch are never rolled back
        balances = Balances(self.state, kept, events)
        staking = Staking(self.state, kept, events, balances, self.author)
        alpha_fee: tuple[int, int, int] | None = None
        if source == "tao":
            balances.withdraw(signer, fee.total)
        else:
            assert isinstance(source, tuple)
            alpha_fee = self._withdraw_in_alpha(staking, signer, *source, fee.total)

        journal = Journal()
        mark = events.mark()
        failure: DispatchError | None = None
        try:
            self._dispatch(xt, signer, journal, events)
        except DispatchError as exc:
            journal.rollback()
            events.truncate(mark)
            failure = exc

        if alpha_fee is None:
            balances.deposit(self.author, fee.total)
        else:
            events.fee_paid_with_alpha(signer, *alpha_fee)
        events.fee_paid(signer, fee.total, fee.tip)
        info = self.dispatch_info(xt)
        if failure is None:
            events.extrinsic_success(info)
        else:
            events.extrinsic_failed(failure, info)

    def _withdraw_in_alpha(
        self, staking: Staking, who: bytes, hotkey: bytes, netuid: int, fee: int
    ) -> tuple[int, int, int]:
        """Sell enough of `who`'s stake for the fee, fee-free, paying the author in TAO:
        (netuid, alpha taken, TAO it fetched)."""
        held = self.state.stake(hotkey, who, netuid)
        alpha = staking.alpha_for_tao(netuid, fee) or held
        alpha = min(alpha, held)
        subnet = self.state.subnets[netuid]
        tao = staking.unstake_from_subnet(
            hotkey, who, self.author, subnet, alpha, 0, drop_fees=True
        )
        return netuid, alpha, tao

    def _dispatch(self, xt: Extrinsic, who: bytes, journal: Journal, events: Events) -> None:
        balances = Balances(self.state, journal, events)
        staking = Staking(self.state, journal, events, balances, self.author)
        a = xt.args
        match (xt.pallet, xt.function):
            case ("System", "remark"):
                pass
            case ("System", "remark_with_event"):
                length, offset = codec.decode_compact(xt.call, 2)
                events.remarked(who, codec.blake2_256(xt.call[offset : offset + length]))
            case ("Timestamp", "set"):
                raise DispatchError.other("BadOrigin")  # an inherent, not a signed call
            case ("Balances", function):
                if xt.call[2] != 0:  # MultiAddress::Id is the only lookup subtensor has
                    raise DispatchError.other("CannotLookup")
                dest = account_arg(a["dest"])
                if function == "transfer_all":
                    keep_alive = bool(a["keep_alive"])
                    amount = balances.reducible(who, keep_alive)
                    balances.transfer(who, dest, amount, keep_alive)
                else:
                    keep_alive = function == "transfer_keep_alive"
                    balances.transfer(who, dest, int(a["value"]), keep_alive)
            case ("SubtensorModule", "add_stake"):
                staking.add_stake(who, account_arg(a["hotkey"]), a["netuid"], a["amount_staked"])
            case ("SubtensorModule", "add_stake_limit"):
                staking.add_stake_limit(
                    who,
                    account_arg(a["hotkey"]),
                    a["netuid"],
                    a["amount_staked"],
                    a["limit_price"],
                    bool(a["allow_partial"]),
                )
            case ("SubtensorModule", "remove_stake"):
                staking.remove_stake(
                    who, account_arg(a["hotkey"]), a["netuid"], a["amount_unstaked"]
                )
            case ("SubtensorModule", "remove_stake_limit"):
                staking.remove_stake_limit(
                    who,
                    account_arg(a["hotkey"]),
                    a["netuid"],
                    a["amount_unstaked"],
                    a["limit_price"],
                    bool(a["allow_partial"]),
                )
            case ("SubtensorModule", "move_stake"):
                staking.move_stake(
                    who,
                    account_arg(a["origin_hotkey"]),
                    account_arg(a["destination_hotkey"]),
                    a["origin_netuid"],
                    a["destination_netuid"],
                    a["alpha_amount"],
                )
            case ("SubtensorModule", "transfer_stake"):
                staking.transfer_stake(
                    who,
                    account_arg(a["destination_coldkey"]),
                    account_arg(a["hotkey"]),
                    a["origin_netuid"],
                    a["destination_netuid"],
                    a["alpha_amount"],
                )
            case ("SubtensorModule", "swap_stake"):
                staking.swap_stake(
                    who,
                    account_arg(a["hotkey"]),
                    a["origin_netuid"],
                    a["destination_netuid"],
                    a["alpha_amount"],
                )
            case ("SubtensorModule", "swap_stake_limit"):
                staking.swap_stake(
                    who,
                    account_arg(a["hotkey"]),
                    a["origin_netuid"],
                    a["destination_netuid"],
                    a["alpha_amount"],
                    a["limit_price"],
                    bool(a["allow_partial"]),
                )
            case _:
                raise DispatchError.other("Other")
