"""The devnet's chain state as plain Python values: accounts, subnets and their pools, stake.

The block producer (`chain.py`) evolves it and encodes it into storage every block; the runtime
(`runtime.py`) changes it through extrinsics. A `Journal` records what an extrinsic changed so
a failed dispatch is rolled back (Substrate's transactional dispatch), keeping its fee.
"""

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from math import ceil, floor
from typing import Any, TypeVar

from app.chain import codec
from app.chain.types import PERQUINTILL, spot_price

V2_SHARE_EXPONENT = -9  # AlphaV2 shares are kept as mantissa * 10^-9
DEFAULT_TAKE = 11796  # a delegate's take (`Delegates` default): 18% of 65535
K = TypeVar("K")
V = TypeVar("V")


@dataclass
class Account:
    """`System::Account`: nonce, reference counts and the balances (`AccountData`), in rao."""

    free: int = 0
    nonce: int = 0
    consumers: int = 0
    providers: int = 1
    sufficients: int = 0
    reserved: int = 0
    frozen: int = 0


@dataclass
class SharePool:
    """A hotkey's stake on one subnet: alpha owned pro rata by shares (exact Fractions).

    Legacy pools keep shares as U64F64 bits (`Alpha`, `TotalHotkeyShares`); V2 pools as
    `SafeFloat` with exponent -9 (`AlphaV2`, `TotalHotkeySharesV2`). Either way every share
    amount is exactly representable in its storage encoding: minted shares are rounded up to
    that grain and burnt ones down, so a position's value (rounded down) moves by exactly the
    alpha added or removed.
    """

    total_alpha: int = 0
    v2: bool = False
    shares: dict[bytes, Fraction] = field(default_factory=dict)  # coldkey -> shares

    @property
    def total_shares(self) -> Fraction:
        return sum(self.shares.values(), Fraction(0))

    @property
    def grain(self) -> int:
        return 10**-V2_SHARE_EXPONENT if self.v2 else codec.U64F64_ONE

    def value(self, coldkey: bytes) -> int:
        """The alpha-rao `coldkey`'s shares are worth, rounded down."""
        shares = self.shares.get(coldkey)
        total = self.total_shares
        if not shares or total == 0:
            return 0
        return int(self.total_alpha * shares / total)

    def mint(self, coldkey: bytes, alpha: int) -> Fraction:
        total = self.total_shares
        exact = (
            Fraction(alpha)
            if total == 0 or self.total_alpha == 0
            else alpha * total / self.total_alpha
        )
        minted = Fraction(ceil(exact * self.grain), self.grain)
        self.shares[coldkey] = self.shares.get(coldkey, Fraction(0)) + minted
        self.total_alpha += alpha
        return minted

    def burn(self, coldkey: bytes, alpha: int) -> None:
        """Take `alpha` alpha-rao of `coldkey`'s stake out of the pool (at most all of it)."""
        held = self.shares.get(coldkey, Fraction(0))
        value = self.value(coldkey)
        if alpha >= value:
            self.shares.pop(coldkey, None)
            self.total_alpha -= min(alpha, value)
            return
        exact = alpha * self.total_shares / self.total_alpha
        burnt = Fraction(floor(exact * self.grain), self.grain)
        if held - burnt:
            self.shares[coldkey] = held - burnt
        else:
            self.shares.pop(coldkey, None)
        self.total_alpha -= alpha


@dataclass
class Subnet:
    netuid: int
    registered_at: int
    mechanism: int
    symbol: bytes
    identity: tuple[bytes, ...] | None
    owner_coldkey: bytes
    owner_hotkey: bytes
    tempo: int
    tao_in: int
    alpha_in: int
    alpha_out: int
    moving_price_bits: int
    volume: int = 0
    tao_in_emission: int = 0
    alpha_in_emission: int = 0
    alpha_out_emission: int = 0
    fee_rate: int = 33
    quote_weight: int = PERQUINTILL // 2
    uids: list[bytes] = field(default_factory=list)  # hotkey by uid
    permits: list[bool] = field(default_factory=list)
    pending_validator_alpha: int = 0
    subtoken_enabled: bool = True
    # The stateful epoch scheduler (subtensor `coinbase/run_coinbase.rs`, `drain_pending`).
    last_epoch_block: int = 0  # LastEpochBlock: the block of the last consumed epoch slot
    pending_epoch_at: int = 0  # PendingEpochAt: an owner-triggered or deferred epoch (0: none)
    epoch_index: int = 0  # SubnetEpochIndex: +1 per consumed slot
    # The coinbase (coinbase.py): what is pending until the epoch, and what the chain bought.
    first_emission_block: int = 1  # FirstEmissionBlockNumber (start_call + 1)
    pending_server_alpha: int = 0  # PendingServerEmission
    pending_owner_cut: int = 0  # PendingOwnerCut
    pending_root_alpha: int = 0  # PendingRootAlphaDivs
    protocol_alpha: int = 0  # SubnetProtocolAlpha: alpha the chain buys hold
    excess_tao: int = 0  # SubnetExcessTao: TAO the chain bought alpha with this block
    burn: int = 100_000_000  # Burn: a uid's registration cost (`SubtensorInitialBurn`, 0.1 TAO)
    transfer_enabled: bool = True  # TransferToggle

    @property
    def price(self) -> Fraction:
        return spot_price(self.tao_in, self.alpha_in, self.quote_weight)


# The subtensor pallet's id: subnet `n`'s TAO is held by the account "modl" + id + SCALE(n).
SUBTENSOR_PALLET_ID = b"subtensr"


def subnet_account(netuid: int) -> bytes:
    """`PalletId(*b"subtensr").into_sub_account_truncating(netuid)`, as on finney."""
    return (b"modl" + SUBTENSOR_PALLET_ID + codec.u16(netuid)).ljust(32, b"\x00")


SUBNET_ACCOUNTS = {subnet_account(n): n for n in range(0, 129)}


@dataclass
class State:
    """Everything extrinsics read and change. Subnet accounts are not in `accounts`: their free
    balance is the pool's TAO reserve (`SubnetTAO`), so the two never drift apart, plus TAO
    sent to them outside staking (`subnet_extra`)."""

    accounts: dict[bytes, Account] = field(default_factory=dict)
    subnets: dict[int, Subnet] = field(default_factory=dict)
    pools: dict[tuple[bytes, int], SharePool] = field(default_factory=dict)  # (hotkey, netuid)
    owners: dict[bytes, bytes] = field(default_factory=dict)  # hotkey -> coldkey (`Owner`)
    staking_hotkeys: dict[bytes, list[bytes]] = field(default_factory=dict)  # `StakingHotkeys`
    takes: dict[bytes, int] = field(default_factory=dict)
    subnet_extra: dict[int, int] = field(default_factory=dict)  # TAO sent to a subnet account
    root_stakes: dict[bytes, int] = field(default_factory=dict)  # validator hotkey -> root TAO
    # Root stakers' alpha dividends per (hotkey, netuid), held for them to claim (RootClaimable).
    root_claimable: dict[tuple[bytes, int], int] = field(default_factory=dict)
    childkey_takes: dict[tuple[bytes, int], int] = field(default_factory=dict)  # ChildkeyTake
    # The last epoch's alpha dividends to nominators per (netuid, hotkey) and the hotkey's
    # alpha then per (hotkey, netuid): AlphaDividendsPerSubnet, TotalHotkeyAlphaLastEpoch.
    alpha_dividends: dict[tuple[int, bytes], int] = field(default_factory=dict)
    total_alpha_last_epoch: dict[tuple[bytes, int], int] = field(default_factory=dict)

    def stake(self, hotkey: bytes, coldkey: bytes, netuid: int) -> int:
        pool = self.pools.get((hotkey, netuid))
        return pool.value(coldkey) if pool else 0

    def free(self, who: bytes) -> int:
        netuid = SUBNET_ACCOUNTS.get(who)
        if netuid is not None:
            subnet = self.subnets.get(netuid)
            return (subnet.tao_in if subnet else 0) + self.subnet_extra.get(netuid, 0)
        account = self.accounts.get(who)
        return account.free if account else 0

    def note_staking_hotkey(self, coldkey: bytes, hotkey: bytes, journal: "Journal") -> None:
        hotkeys = self.staking_hotkeys.get(coldkey, [])
        if hotkey not in hotkeys:
            journal.setitem(self.staking_hotkeys, coldkey, [*hotkeys, hotkey])


class Journal:
    """Undo records for one dispatch: objects are snapshotted on first touch, map entries on
    first write; `rollback()` restores them in reverse order."""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []
        self._touched: set[int] = set()

    def touch(self, obj: V) -> V:
        if id(obj) not in self._touched:
            self._touched.add(id(obj))
            saved = copy.deepcopy(vars(obj))
            target: Any = obj
            self._undo.append(lambda: _restore(target, saved))
        return obj

    def setitem(self, mapping: dict[K, V], key: K, value: V) -> None:
        self._remember(mapping, key)
        mapping[key] = value

    def delitem(self, mapping: dict[K, V], key: K) -> None:
        self._remember(mapping, key)
        mapping.pop(key, None)

    def _remember(self, mapping: dict[K, V], key: K) -> None:
        if key in mapping:
            old = mapping[key]

            def restore() -> None:
                mapping[key] = old

        else:

            def restore() -> None:
                mapping.pop(key, None)

        self._undo.append(restore)

    def rollback(self) -> None:
        for undo in reversed(self._undo):
            undo()
        self._undo.clear()
        self._touched.clear()


def _restore(obj: Any, saved: dict[str, Any]) -> None:
    vars(obj).clear()
    vars(obj).update(saved)
