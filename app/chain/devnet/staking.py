"""SubtensorModule's staking calls, following subtensor's source (`staking/*.rs`, June 2026).

- `add_stake`: TAO moves from the coldkey to the subnet account (capped so the account keeps
  its existential deposit), is swapped into alpha (the swap fee, `FeeRate/65535` of the input,
  goes to the block author) and credited as stake: `StakeAdded(coldkey, hotkey, tao, alpha,
  netuid, fee)`.
- `remove_stake`: alpha is swapped out (fee in alpha, sold fee-free for the author), the TAO is
  paid from the subnet account: `StakeRemoved(coldkey, hotkey, tao, alpha_net_of_fee, netuid,
  fee)`. The amount is capped at the stake held.
- `move_stake` / `transfer_stake` / `swap_stake`: capped at the stake held; on one subnet the
  alpha changes hands as is (`StakeRemoved`, `StakeAdded` with the TAO equivalent at the spot
  price and no fee); across subnets it is unstaked, sent, and staked again.
- `*_limit`: a limit price in rao per alpha; the amount is reduced to what the price allows
  (`allow_partial`) or the call fails with `SlippageTooHigh`.
- Minimum: `DefaultMinStake`, 2,000,000 rao (0.002 TAO) of TAO equivalent (plus the swap fee
  for `add_stake`); smaller operations fail with `AmountTooLow` (unstaking everything is allowed).

The pools are the devnet's weighted pools (`app/chain/pool.py`); amounts are exact integers.
"""

from dataclasses import dataclass
from fractions import Fraction

from app.chain.devnet.balances import Balances
from app.chain.devnet.events import DispatchError, Events
from app.chain.devnet.state import Journal, SharePool, State, Subnet, subnet_account
from app.chain.pool import alpha_to_reach_price, swap_fee, tao_to_reach_price, weighted_out
from app.chain.types import PERQUINTILL, RAO_PER_TAO, U16_MAX

DEFAULT_MIN_STAKE = 2_000_000  # rao: subtensor's DefaultMinStake (0.002 TAO)
MAX_PRICE = 1_000_000_000_000_000  # rao per alpha: the swap's default limit when buying
MIN_PRICE = 1_000  # rao per alpha: the default limit when selling
MAX_SWAP_INPUT = 1_000  # an input may be at most this many times the input reserve
U64_MAX = 2**64 - 1
M = "SubtensorModule"


def error(name: str) -> DispatchError:
    return DispatchError.module(M, name)


@dataclass(frozen=True, slots=True)
class SwapResult:
    paid_in: int  # input that went into the pool (net of fee)
    paid_out: int
    fee: int  # in the input token; all of it to the block author

    @property
    def spent(self) -> int:
        return self.paid_in + self.fee


def current_price(s: Subnet) -> Fraction:
    """TAO per alpha: the pool's spot price (1 on root and stable subnets)."""
    if s.mechanism != 1:
        return Fraction(1)
    return s.price


def _weights(s: Subnet) -> tuple[int, int]:
    return PERQUINTILL - s.quote_weight, s.quote_weight


def simulate_buy(
    s: Subnet, tao: int, limit_price: int = MAX_PRICE, drop_fees: bool = False
) -> SwapResult:
    """Spend `tao` on alpha, stopping at `limit_price` (rao per alpha)."""
    if s.mechanism != 1:
        return SwapResult(tao, tao, 0)
    limit = Fraction(limit_price, RAO_PER_TAO)
    if current_price(s) > limit:
        raise DispatchError.module("Swap", "PriceLimitExceeded")
    rate = 0 if drop_fees else s.fee_rate
    fee = swap_fee(tao, rate)
    delta_in = tao - fee
    to_limit = tao_to_reach_price(s, limit)
    if delta_in > to_limit:
        delta_in = to_limit
        fee = delta_in * rate // (U16_MAX - rate)
    w1, w2 = _weights(s)
    out = weighted_out(s.tao_in, s.alpha_in, delta_in, w2, w1)
    if delta_in and not out:
        raise DispatchError.module("Swap", "ReservesTooLow")
    return SwapResult(delta_in, out, fee)


def simulate_sell(
    s: Subnet, alpha: int, limit_price: int = MIN_PRICE, drop_fees: bool = False
) -> SwapResult:
    """Sell `alpha` for TAO, stopping at `limit_price` (rao per alpha)."""
    if s.mechanism != 1:
        return SwapResult(alpha, alpha, 0)
    limit = Fraction(limit_price, RAO_PER_TAO)
    if current_price(s) < limit:
        raise DispatchError.module("Swap", "PriceLimitExceeded")
    rate = 0 if drop_fees else s.fee_rate
    fee = swap_fee(alpha, rate)
    delta_in = alpha - fee
    to_limit = alpha_to_reach_price(s, limit) if limit_price else delta_in  # 0: no limit
    if delta_in > to_limit:
        delta_in = to_limit
        fee = delta_in * rate // (U16_MAX - rate)
    w1, w2 = _weights(s)
    out = weighted_out(s.alpha_in, s.tao_in, delta_in, w1, w2)
    if delta_in and not out:
        raise DispatchError.module("Swap", "ReservesTooLow")
    return SwapResult(delta_in, out, fee)


class Staking:
    def __init__(
        self, state: State, journal: Journal, events: Events, balances: Balances, author: bytes
    ) -> None:
        self.state = state
        self.journal = journal
        self.events = events
        self.balances = balances
        self.author = author

    # --- lookups ------------------------------------------------------------------------------

    def subnet(self, netuid: int) -> Subnet:
        s = self.state.subnets.get(netuid)
        if s is None:
            raise error("SubnetNotExists")
        return s

    def stake(self, hotkey: bytes, coldkey: bytes, netuid: int) -> int:
        return self.state.stake(hotkey, coldkey, netuid)

    def alpha_for_tao(self, netuid: int, tao: int) -> int:
        """`get_alpha_amount_for_tao`: alpha worth `tao` at the spot price, no slippage."""
        s = self.state.subnets[netuid]
        price = current_price(s)
        return int(tao / price) if price else 0

    # --- the calls ----------------------------------------------------------------------------

    def add_stake(self, coldkey: bytes, hotkey: bytes, netuid: int, amount: int) -> None:
        s = self.subnet(netuid)
        self._within_swap_limit(s.tao_in, amount, s)
        self._validate_add(coldkey, hotkey, s, amount, amount, allow_partial=False)
        self.stake_into_subnet(hotkey, coldkey, s, amount, MAX_PRICE)

    def add_stake_limit(
        self,
        coldkey: bytes,
        hotkey: bytes,
        netuid: int,
        amount: int,
        limit_price: int,
        allow_partial: bool,
    ) -> None:
        s = self.subnet(netuid)
        self._within_swap_limit(s.tao_in, amount, s)
        max_amount = self._max_amount_add(s, limit_price)
        possible = min(amount, max_amount)
        self._validate_add(coldkey, hotkey, s, amount, max_amount, allow_partial)
        self.stake_into_subnet(hotkey, coldkey, s, possible, limit_price)

    def remove_stake(self, coldkey: bytes, hotkey: bytes, netuid: int, alpha: int) -> None:
        s = self.subnet(netuid)
        if not s.subtoken_enabled:
            raise error("SubtokenDisabled")
        alpha = min(alpha, self.stake(hotkey, coldkey, netuid))
        self._within_swap_limit(s.alpha_in, alpha, s)
        self._validate_remove(coldkey, hotkey, s, alpha, alpha, allow_partial=False)
        self.unstake_from_subnet(hotkey, coldkey, coldkey, s, alpha, MIN_PRICE, drop_fees=False)

    def remove_stake_limit(
        self,
        coldkey: bytes,
        hotkey: bytes,
        netuid: int,
        alpha: int,
        limit_price: int,
        allow_partial: bool,
    ) -> None:
        s = self.subnet(netuid)
        self._within_swap_limit(s.alpha_in, alpha, s)
        max_amount = self._max_amount_remove(s, limit_price)
        possible = min(alpha, max_amount)
        self._validate_remove(coldkey, hotkey, s, alpha, max_amount, allow_partial)
        self.unstake_from_subnet(
            hotkey, coldkey, coldkey, s, possible, limit_price, drop_fees=False
        )

    def move_stake(
        self,
        coldkey: bytes,
        origin_hotkey: bytes,
        destination_hotkey: bytes,
        origin_netuid: int,
        destination_netuid: int,
        alpha: int,
    ) -> None:
        tao = self._transition(
            coldkey,
            coldkey,
            origin_hotkey,
            destination_hotkey,
            origin_netuid,
            destination_netuid,
            alpha,
        )
        self.events.stake_moved(
            coldkey, origin_hotkey, origin_netuid, destination_hotkey, destination_netuid, tao
        )

    def transfer_stake(
        self,
        coldkey: bytes,
        destination_coldkey: bytes,
        hotkey: bytes,
        origin_netuid: int,
        destination_netuid: int,
        alpha: int,
    ) -> None:
        tao = self._transition(
            coldkey,
            destination_coldkey,
            hotkey,
            hotkey,
            origin_netuid,
            destination_netuid,
            alpha,
            check_transfer_toggle=True,
        )
        self.events.stake_transferred(
            coldkey, destination_coldkey, hotkey, origin_netuid, destination_netuid, tao
        )

    def swap_stake(
        self,
        coldkey: bytes,
        hotkey: bytes,
        origin_netuid: int,
        destination_netuid: int,
        alpha: int,
        limit_price: int | None = None,
        allow_partial: bool | None = None,
    ) -> None:
        tao = self._transition(
            coldkey,
            coldkey,
            hotkey,
            hotkey,
            origin_netuid,
            destination_netuid,
            alpha,
            limit_price=limit_price,
            allow_partial=allow_partial,
        )
        self.events.stake_swapped(coldkey, hotkey, origin_netuid, destination_netuid, tao)

    # --- building blocks (stake_utils.rs) -----------------------------------------------------

    def stake_into_subnet(
        self,
        hotkey: bytes,
        coldkey: bytes,
        s: Subnet,
        tao: int,
        limit_price: int,
        drop_fees: bool = False,
    ) -> int:
        # The transfer leaves the coldkey its existential deposit.
        staked = min(tao, self.balances.reducible(coldkey, keep_alive=True))
        if staked == 0:
            raise error("InsufficientBalance")
        self.balances.to_subnet(coldkey, subnet_account(s.netuid), staked)
        swap = simulate_buy(s, staked, limit_price, drop_fees)
        if swap.paid_out == 0:
            raise error("AmountTooLow")
        self.journal.touch(s)
        # What the swap did not use (rounding at a limit price) stays with the subnet.
        s.tao_in += staked - swap.fee
        if s.mechanism == 1:
            s.alpha_in -= swap.paid_out
        s.alpha_out += swap.paid_out
        s.volume += staked
        self.increase_stake(hotkey, coldkey, s.netuid, swap.paid_out)
        self.balances.from_subnet(subnet_account(s.netuid), self.author, swap.fee)
        self.events.stake_added(coldkey, hotkey, staked, swap.paid_out, s.netuid, swap.fee)
        return swap.paid_out

    def unstake_from_subnet(
        self,
        hotkey: bytes,
        coldkey: bytes,
        beneficiary: bytes,
        s: Subnet,
        alpha: int,
        limit_price: int,
        drop_fees: bool,
    ) -> int:
        self.decrease_stake(hotkey, coldkey, s.netuid, alpha)
        swap = simulate_sell(s, alpha, limit_price, drop_fees)
        self.journal.touch(s)
        self._sell_into_pool(s, swap)
        refund = alpha - swap.spent
        if refund > 0:
            self.increase_stake(hotkey, coldkey, s.netuid, refund)
        account = subnet_account(s.netuid)
        self.balances.from_subnet(account, beneficiary, swap.paid_out)
        # The block author's fee, in alpha, is sold without a fee and paid in TAO.
        author_swap = simulate_sell(s, swap.fee, MIN_PRICE, drop_fees=True) if swap.fee else None
        if author_swap is not None:
            self._sell_into_pool(s, author_swap)
            self.balances.from_subnet(account, self.author, author_swap.paid_out)
        self.events.stake_removed(coldkey, hotkey, swap.paid_out, swap.paid_in, s.netuid, swap.fee)
        return swap.paid_out

    def _sell_into_pool(self, s: Subnet, swap: SwapResult) -> None:
        if s.mechanism != 1:
            s.tao_in -= swap.paid_out
            s.alpha_out -= swap.paid_in
            s.volume += swap.paid_out
            return
        s.alpha_in += swap.paid_in
        s.alpha_out -= swap.paid_in
        s.tao_in -= swap.paid_out
        s.volume += swap.paid_out

    def increase_stake(self, hotkey: bytes, coldkey: bytes, netuid: int, alpha: int) -> None:
        if alpha <= 0:
            return
        self.state.note_staking_hotkey(coldkey, hotkey, self.journal)
        pool = self.state.pools.get((hotkey, netuid))
        if pool is None:
            pool = SharePool()
            self.journal.setitem(self.state.pools, (hotkey, netuid), pool)
        self.journal.touch(pool).mint(coldkey, alpha)

    def decrease_stake(self, hotkey: bytes, coldkey: bytes, netuid: int, alpha: int) -> None:
        pool = self.state.pools.get((hotkey, netuid))
        if pool is None or pool.value(coldkey) < alpha:
            return  # as on chain: nothing is taken if the stake does not cover it
        self.journal.touch(pool).burn(coldkey, alpha)

    # --- checks (validate_* in stake_utils.rs) ------------------------------------------------

    def _within_swap_limit(self, reserve: int, amount: int, s: Subnet) -> None:
        if s.netuid != 0 and s.mechanism == 1 and amount > reserve * MAX_SWAP_INPUT:
            raise error("InsufficientLiquidity")

    def _hotkey_exists(self, hotkey: bytes) -> bool:
        return hotkey in self.state.owners

    def _validate_add(
        self,
        coldkey: bytes,
        hotkey: bytes,
        s: Subnet,
        amount: int,
        max_amount: int,
        allow_partial: bool,
    ) -> None:
        if not s.subtoken_enabled:
            raise error("SubtokenDisabled")
        min_fee = swap_fee(DEFAULT_MIN_STAKE, s.fee_rate) if s.mechanism == 1 else 0
        if amount < DEFAULT_MIN_STAKE + min_fee:
            raise error("AmountTooLow")
        if not allow_partial:
            if amount > max_amount:
                raise error("SlippageTooHigh")
        else:
            amount = min(amount, max_amount)
        if amount > self.balances.reducible(coldkey, keep_alive=False):
            raise error("NotEnoughBalanceToStake")
        if not self._hotkey_exists(hotkey):
            raise error("HotKeyAccountNotExists")
        swap = simulate_buy(s, amount)
        if swap.paid_in < DEFAULT_MIN_STAKE:
            raise error("AmountTooLow")
        if swap.paid_out == 0:
            raise error("InsufficientLiquidity")

    def _validate_remove(
        self,
        coldkey: bytes,
        hotkey: bytes,
        s: Subnet,
        alpha: int,
        max_amount: int,
        allow_partial: bool,
    ) -> None:
        if alpha == 0:
            raise error("AmountTooLow")
        held = self.stake(hotkey, coldkey, s.netuid)
        if alpha > held:
            raise error("NotEnoughStakeToWithdraw")
        swap = simulate_sell(s, alpha)
        if held - alpha and swap.paid_out < DEFAULT_MIN_STAKE:
            raise error("AmountTooLow")
        if not allow_partial and alpha > max_amount:
            raise error("SlippageTooHigh")
        if not self._hotkey_exists(hotkey):
            raise error("HotKeyAccountNotExists")

    def _max_amount_add(self, s: Subnet, limit_price: int) -> int:
        if s.mechanism != 1:
            return U64_MAX if limit_price >= RAO_PER_TAO else 0
        return simulate_buy(s, s.tao_in * MAX_SWAP_INPUT, limit_price).spent

    def _max_amount_remove(self, s: Subnet, limit_price: int) -> int:
        if s.mechanism != 1:
            return U64_MAX if limit_price <= RAO_PER_TAO else 0
        return simulate_sell(s, s.alpha_in * MAX_SWAP_INPUT, limit_price).spent

    def _max_amount_move(self, origin: Subnet, destination: Subnet, limit_price: int) -> int:
        """How much alpha may move before origin/destination prices pass `limit_price`."""
        if origin.mechanism != 1 and destination.mechanism != 1:
            return 0 if limit_price > RAO_PER_TAO else U64_MAX
        if origin.mechanism != 1:
            if limit_price == 0:
                return U64_MAX
            return self._max_amount_add(destination, RAO_PER_TAO * RAO_PER_TAO // limit_price)
        if destination.mechanism != 1:
            return self._max_amount_remove(origin, limit_price)
        if not (origin.tao_in and destination.tao_in and origin.alpha_in and destination.alpha_in):
            return 0
        limit = Fraction(limit_price, RAO_PER_TAO)
        if limit > current_price(origin) / current_price(destination):
            return 0
        if limit_price == 0:
            return U64_MAX
        total = origin.tao_in + destination.tao_in
        result = Fraction(destination.alpha_in * origin.tao_in, total) / limit - Fraction(
            origin.alpha_in * destination.tao_in, total
        )
        return max(0, int(result))

    def _transition(
        self,
        origin_coldkey: bytes,
        destination_coldkey: bytes,
        origin_hotkey: bytes,
        destination_hotkey: bytes,
        origin_netuid: int,
        destination_netuid: int,
        alpha: int,
        limit_price: int | None = None,
        allow_partial: bool | None = None,
        check_transfer_toggle: bool = False,
    ) -> int:
        """`transition_stake_internal`: returns the TAO moved (or its equivalent)."""
        alpha = min(alpha, self.stake(origin_hotkey, origin_coldkey, origin_netuid))
        same_keys = origin_coldkey == destination_coldkey and origin_hotkey == destination_hotkey
        if same_keys and origin_netuid == destination_netuid:
            raise error("SameNetuid")
        origin = self.subnet(origin_netuid)
        destination = self.subnet(destination_netuid)
        max_amount = alpha
        if origin_netuid != destination_netuid and limit_price is not None:
            max_amount = self._max_amount_move(origin, destination, limit_price)
        if not (origin.subtoken_enabled and destination.subtoken_enabled):
            raise error("SubtokenDisabled")
        if not self._hotkey_exists(origin_hotkey) or not self._hotkey_exists(destination_hotkey):
            raise error("HotKeyAccountNotExists")
        if origin_netuid != destination_netuid:
            if simulate_sell(origin, alpha).paid_out <= DEFAULT_MIN_STAKE:
                raise error("AmountTooLow")
            if allow_partial is False and alpha > max_amount:
                raise error("SlippageTooHigh")
        moved = min(alpha, max_amount)
        if origin_netuid == destination_netuid:
            return self._transfer_within_subnet(
                origin_coldkey,
                origin_hotkey,
                destination_coldkey,
                destination_hotkey,
                origin,
                moved,
            )
        drop_origin_fee = origin_netuid == 0
        tao = self.unstake_from_subnet(
            origin_hotkey, origin_coldkey, origin_coldkey, origin, moved, MIN_PRICE, drop_origin_fee
        )
        if origin_coldkey != destination_coldkey:
            if tao > self.balances.reducible(origin_coldkey, keep_alive=False):
                raise error("InsufficientBalance")
            self.balances.transfer(origin_coldkey, destination_coldkey, tao, keep_alive=False)
        if tao >= DEFAULT_MIN_STAKE:
            self.stake_into_subnet(
                destination_hotkey,
                destination_coldkey,
                destination,
                tao,
                MAX_PRICE,
                drop_fees=not drop_origin_fee,
            )
        return tao

    def _transfer_within_subnet(
        self,
        origin_coldkey: bytes,
        origin_hotkey: bytes,
        destination_coldkey: bytes,
        destination_hotkey: bytes,
        s: Subnet,
        alpha: int,
    ) -> int:
        self.decrease_stake(origin_hotkey, origin_coldkey, s.netuid, alpha)
        self.increase_stake(destination_hotkey, destination_coldkey, s.netuid, alpha)
        tao_equivalent = int(current_price(s) * alpha)
        if tao_equivalent < DEFAULT_MIN_STAKE:
            raise error("AmountTooLow")
        self.events.stake_removed(origin_coldkey, origin_hotkey, tao_equivalent, alpha, s.netuid, 0)
        self.events.stake_added(
            destination_coldkey, destination_hotkey, tao_equivalent, alpha, s.netuid, 0
        )
        return tao_equivalent
