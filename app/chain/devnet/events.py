"""`System.Events` as the runtime deposits them: SCALE `EventRecord`s with their phase.

Events are encoded by hand (pallet and variant index from the metadata, then the fields in
their declared order): a block deposits a few dozen at most, and the bytes are exactly what
finney's `frame_system::EventRecord` holds, so any client decodes them with the metadata.
"""

from dataclasses import dataclass

from app.chain import codec
from app.chain.devnet.metadata import error_index, event_index

TOKEN_ERRORS = (
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
)
ARITHMETIC_ERRORS = ("Underflow", "Overflow", "DivisionByZero")
DISPATCH_CLASSES = ("Normal", "Operational", "Mandatory")


class DispatchError(Exception):
    """A dispatch that failed: its state changes are rolled back, its fee stays paid."""

    def __init__(self, encoded: bytes, description: str) -> None:
        super().__init__(description)
        self.encoded = encoded  # SCALE `sp_runtime::DispatchError`
        self.description = description

    @classmethod
    def module(cls, pallet: str, error: str) -> "DispatchError":
        pallet_index, index = error_index(pallet, error)
        return cls(bytes([3, pallet_index, index, 0, 0, 0]), f"{pallet}.{error}")

    @classmethod
    def other(cls, name: str) -> "DispatchError":
        """A variant without data: `Other`, `CannotLookup`, `BadOrigin`, ..."""
        index = ("Other", "CannotLookup", "BadOrigin").index(name)
        return cls(bytes([index]), name)

    @classmethod
    def token(cls, error: str) -> "DispatchError":
        return cls(bytes([7, TOKEN_ERRORS.index(error)]), f"Token.{error}")

    @classmethod
    def arithmetic(cls, error: str) -> "DispatchError":
        return cls(bytes([8, ARITHMETIC_ERRORS.index(error)]), f"Arithmetic.{error}")


@dataclass(frozen=True, slots=True)
class DispatchInfo:
    """`frame_system::DispatchEventInfo`."""

    ref_time: int
    proof_size: int = 0
    dispatch_class: str = "Normal"
    pays_fee: bool = True

    def encode(self) -> bytes:
        return (
            codec.compact(self.ref_time)
            + codec.compact(self.proof_size)
            + codec.u8(DISPATCH_CLASSES.index(self.dispatch_class))
            + codec.u8(0 if self.pays_fee else 1)
        )


APPLY_EXTRINSIC, FINALIZATION, INITIALIZATION = 0, 1, 2


class Events:
    """The events of one block, in deposit order, each stamped with the current phase."""

    def __init__(self) -> None:
        self.records: list[bytes] = []
        self._phase = bytes([INITIALIZATION])

    def initialization(self) -> None:
        self._phase = bytes([INITIALIZATION])

    def apply_extrinsic(self, index: int) -> None:
        self._phase = bytes([APPLY_EXTRINSIC]) + codec.u32(index)

    def finalization(self) -> None:
        self._phase = bytes([FINALIZATION])

    def mark(self) -> int:
        return len(self.records)

    def truncate(self, mark: int) -> None:
        """Forget the events deposited since `mark` (a rolled-back dispatch's)."""
        del self.records[mark:]

    def deposit(self, pallet: str, event: str, *fields: bytes) -> None:
        self.records.append(self._phase + event_index(pallet, event) + b"".join(fields) + b"\x00")

    def encode(self) -> bytes:
        return codec.compact(len(self.records)) + b"".join(self.records)

    # --- System -------------------------------------------------------------------------------

    def extrinsic_success(self, info: DispatchInfo) -> None:
        self.deposit("System", "ExtrinsicSuccess", info.encode())

    def extrinsic_failed(self, error: DispatchError, info: DispatchInfo) -> None:
        self.deposit("System", "ExtrinsicFailed", error.encoded, info.encode())

    def new_account(self, who: bytes) -> None:
        self.deposit("System", "NewAccount", who)

    def killed_account(self, who: bytes) -> None:
        self.deposit("System", "KilledAccount", who)

    def remarked(self, sender: bytes, remark_hash: bytes) -> None:
        self.deposit("System", "Remarked", sender, remark_hash)

    # --- Balances and fees --------------------------------------------------------------------

    def endowed(self, who: bytes, free: int) -> None:
        self.deposit("Balances", "Endowed", who, codec.u64(free))

    def dust_lost(self, who: bytes, amount: int) -> None:
        self.deposit("Balances", "DustLost", who, codec.u64(amount))

    def transfer(self, source: bytes, dest: bytes, amount: int) -> None:
        self.deposit("Balances", "Transfer", source, dest, codec.u64(amount))

    def balance_deposit(self, who: bytes, amount: int) -> None:
        self.deposit("Balances", "Deposit", who, codec.u64(amount))

    def withdraw(self, who: bytes, amount: int) -> None:
        self.deposit("Balances", "Withdraw", who, codec.u64(amount))

    def fee_paid(self, who: bytes, actual_fee: int, tip: int) -> None:
        self.deposit(
            "TransactionPayment", "TransactionFeePaid", who, codec.u64(actual_fee), codec.u64(tip)
        )

    # --- SubtensorModule ----------------------------------------------------------------------

    def network_added(self, netuid: int, mechanism: int) -> None:
        self.deposit("SubtensorModule", "NetworkAdded", codec.u16(netuid), codec.u16(mechanism))

    def network_removed(self, netuid: int) -> None:
        self.deposit("SubtensorModule", "NetworkRemoved", codec.u16(netuid))

    def stake_added(
        self, coldkey: bytes, hotkey: bytes, tao: int, alpha: int, netuid: int, fee: int
    ) -> None:
        self._stake("StakeAdded", coldkey, hotkey, tao, alpha, netuid, fee)

    def stake_removed(
        self, coldkey: bytes, hotkey: bytes, tao: int, alpha: int, netuid: int, fee: int
    ) -> None:
        self._stake("StakeRemoved", coldkey, hotkey, tao, alpha, netuid, fee)

    def _stake(
        self, event: str, coldkey: bytes, hotkey: bytes, tao: int, alpha: int, netuid: int, fee: int
    ) -> None:
        fields = (
            coldkey,
            hotkey,
            codec.u64(tao),
            codec.u64(alpha),
            codec.u16(netuid),
            codec.u64(fee),
        )
        self.deposit("SubtensorModule", event, *fields)

    def stake_moved(
        self,
        coldkey: bytes,
        origin_hotkey: bytes,
        origin_netuid: int,
        destination_hotkey: bytes,
        destination_netuid: int,
        tao: int,
    ) -> None:
        self.deposit(
            "SubtensorModule",
            "StakeMoved",
            coldkey,
            origin_hotkey,
            codec.u16(origin_netuid),
            destination_hotkey,
            codec.u16(destination_netuid),
            codec.u64(tao),
        )

    def stake_transferred(
        self,
        origin_coldkey: bytes,
        destination_coldkey: bytes,
        hotkey: bytes,
        origin_netuid: int,
        destination_netuid: int,
        tao: int,
    ) -> None:
        self.deposit(
            "SubtensorModule",
            "StakeTransferred",
            origin_coldkey,
            destination_coldkey,
            hotkey,
            codec.u16(origin_netuid),
            codec.u16(destination_netuid),
            codec.u64(tao),
        )

    def stake_swapped(
        self, coldkey: bytes, hotkey: bytes, origin_netuid: int, destination_netuid: int, tao: int
    ) -> None:
        self.deposit(
            "SubtensorModule",
            "StakeSwapped",
            coldkey,
            hotkey,
            codec.u16(origin_netuid),
            codec.u16(destination_netuid),
            codec.u64(tao),
        )

    def epoch_triggered(self, netuid: int, by: bytes, fires_at: int) -> None:
        self.deposit(
            "SubtensorModule", "EpochTriggered", codec.u16(netuid), by, codec.u64(fires_at)
        )

    def epoch_deferred(self, netuid: int, from_block: int, to_block: int) -> None:
        self.deposit(
            "SubtensorModule",
            "EpochDeferred",
            codec.u16(netuid),
            codec.u64(from_block),
            codec.u64(to_block),
        )

    def fee_paid_with_alpha(self, who: bytes, netuid: int, alpha_fee: int, tao_amount: int) -> None:
        self.deposit(
            "SubtensorModule",
            "TransactionFeePaidWithAlpha",
            who,
            codec.u16(netuid),
            codec.u64(alpha_fee),
            codec.u64(tao_amount),
        )
