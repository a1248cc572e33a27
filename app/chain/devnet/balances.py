"""pallet_balances' rules on the devnet state, with the events finney deposits.

Existential deposit 500 rao: an account is created (`System.NewAccount`, `Balances.Endowed`)
by a deposit of at least that much, and reaped (`System.KilledAccount`, `Balances.DustLost`)
when a transfer that allows death leaves less. Transfers follow `fungible::Mutate::transfer`:
more than the free balance is `Token(FundsUnavailable)`, going below the existential deposit
with keep-alive is `Token(NotExpendable)`, creating an account with less than it is
`Token(BelowMinimum)`.

Subnet accounts (`modl` + `subtensr` + netuid) hold the pools' TAO: their balance is the pool's
`SubnetTAO`, which the staking code changes (here those movements only appear as `Transfer`
events), plus whatever was sent to them otherwise (`State.subnet_extra`).
"""

from app.chain.devnet.events import DispatchError, Events
from app.chain.devnet.metadata import EXISTENTIAL_DEPOSIT
from app.chain.devnet.state import SUBNET_ACCOUNTS, Account, Journal, State

ED = EXISTENTIAL_DEPOSIT


class Balances:
    def __init__(self, state: State, journal: Journal, events: Events) -> None:
        self.state = state
        self.journal = journal
        self.events = events

    def free(self, who: bytes) -> int:
        return self.state.free(who)

    def exists(self, who: bytes) -> bool:
        return who in self.state.accounts or who in SUBNET_ACCOUNTS

    def reducible(self, who: bytes, keep_alive: bool) -> int:
        """What `who` can spend (`reducible_balance`): all of it, or all but the deposit."""
        free = self.free(who)
        return max(0, free - ED) if keep_alive else free

    # --- movements ----------------------------------------------------------------------------

    def transfer(
        self, source: bytes, dest: bytes, amount: int, keep_alive: bool, pool: bool = False
    ) -> None:
        """`fungible::Mutate::transfer` (Preserve or Expendable), as the Balances calls do.
        `pool`: a staking movement whose subnet-account side the pool's accounting (SubnetTAO)
        has made already; anything else sent to a subnet account is kept beside the pool."""
        if source not in SUBNET_ACCOUNTS:
            free = self.free(source)
            if amount > free:
                raise DispatchError.token("FundsUnavailable")
            if free - amount < ED and keep_alive:
                raise DispatchError.token("NotExpendable")
        if dest not in SUBNET_ACCOUNTS and dest != source and self.free(dest) + amount < ED:
            raise DispatchError.token("BelowMinimum")
        if source != dest:
            self._decrease(source, amount, pool)
            self._increase(dest, amount, pool)
        self.events.transfer(source, dest, amount)

    def to_subnet(self, source: bytes, subnet_account: bytes, amount: int) -> None:
        if amount:
            self.transfer(source, subnet_account, amount, keep_alive=True, pool=True)

    def from_subnet(self, subnet_account: bytes, dest: bytes, amount: int) -> None:
        """Pay out of a pool (unstake proceeds, swap fees to the block author)."""
        if amount:
            self.transfer(subnet_account, dest, amount, keep_alive=False, pool=True)

    def withdraw(self, who: bytes, amount: int) -> None:
        """Take a fee (`Balanced::withdraw`, exact, keeping the account alive)."""
        if amount > self.reducible(who, keep_alive=True):
            raise DispatchError.token("FundsUnavailable")
        self._decrease(who, amount)
        self.events.withdraw(who, amount)

    def deposit(self, who: bytes, amount: int) -> bool:
        """Credit `amount` (`Balanced::resolve`); False if it cannot create the account."""
        if amount == 0:
            return True
        if who not in SUBNET_ACCOUNTS and self.free(who) + amount < ED:
            return False
        self._increase(who, amount)
        self.events.balance_deposit(who, amount)
        return True

    def can_pay(self, who: bytes, amount: int) -> bool:
        """`can_withdraw(who, amount)` is `Success`: paid, the account keeps its deposit."""
        return self.free(who) - amount >= ED

    # --- internals ----------------------------------------------------------------------------

    def _decrease(self, who: bytes, amount: int, pool: bool = False) -> None:
        if who in SUBNET_ACCOUNTS:
            if not pool:
                self._add_extra(SUBNET_ACCOUNTS[who], -amount)
            return
        account = self.journal.touch(self.state.accounts[who])
        account.free -= amount
        if account.free < ED:
            dust = account.free
            self.journal.delitem(self.state.accounts, who)
            self.events.killed_account(who)
            if dust:
                self.events.dust_lost(who, dust)

    def _increase(self, who: bytes, amount: int, pool: bool = False) -> None:
        if who in SUBNET_ACCOUNTS:
            if not pool:
                self._add_extra(SUBNET_ACCOUNTS[who], amount)
            return
        account = self.state.accounts.get(who)
        if account is None:
            self.journal.setitem(self.state.accounts, who, Account(free=amount))
            self.events.new_account(who)
            self.events.endowed(who, amount)
            return
        self.journal.touch(account).free += amount

    def _add_extra(self, netuid: int, amount: int) -> None:
        extra = self.state.subnet_extra
        self.journal.setitem(extra, netuid, extra.get(netuid, 0) + amount)
