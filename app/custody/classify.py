"""What a finalized block's events did to the exchange's accounts: pure functions, no I/O.

Deposits are classified by their NET effect per extrinsic on each deposit address, from
events (not extrinsics: proxies, batches and EVM precompiles move funds too):

- extrinsics signed by one of the exchange's own accounts (the omnibus or a deposit
  address: sweeps, top-ups, withdrawals) are skipped: the signer accounts for them;
- TAO: `Balances.Transfer` in and out, `Balances.Deposit` / `Balances.Withdraw`; transfers
  FROM a subnet account (unstake proceeds, deregistration payouts) are not deposits;
- alpha: `SubtensorModule.StakeAdded` / `StakeRemoved` on a deposit coldkey, per (subnet,
  hotkey): the alpha amount is StakeAdded's (StakeTransferred carries a TAO equivalent).
  A cross-subnet `transfer_stake` moves TAO in and straight out to the subnet: its TAO net
  is zero and only the alpha counts, so nothing is credited twice.

Events outside extrinsics (initialization: emissions, deregistration payouts) never credit.
A positive net is one inflow, keyed by the first event that contributed to it.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.chain.custody import ChainEvent
from app.kit.ss58 import InvalidSS58, ss58_decode

SUBNET_ACCOUNT_PREFIX = b"modlsubtensr"

# Every event field read here: (pallet, event) -> (name, position, Rust type name) per field
# read (named fields by name, unnamed ones by position; tests/chain/test_conformance.py checks
# each against finney's recorded metadata, the type name telling TAO from alpha amounts).
ACCOUNT, BALANCE = "T::AccountId", "T::Balance"
EVENTS_READ: dict[tuple[str, str], tuple[tuple[str, int, str], ...]] = {
    ("System", "ExtrinsicSuccess"): (),
    ("System", "ExtrinsicFailed"): (("dispatch_error", 0, "DispatchError"),),
    ("Balances", "Transfer"): (("from", 0, ACCOUNT), ("to", 1, ACCOUNT), ("amount", 2, BALANCE)),
    ("Balances", "Deposit"): (("who", 0, ACCOUNT), ("amount", 1, BALANCE)),
    ("Balances", "Withdraw"): (("who", 0, ACCOUNT), ("amount", 1, BALANCE)),
    ("TransactionPayment", "TransactionFeePaid"): (
        ("who", 0, ACCOUNT),
        ("actual_fee", 1, "BalanceOf<T>"),
    ),
    ("SubtensorModule", "StakeAdded"): (
        ("coldkey", 0, ACCOUNT),
        ("hotkey", 1, ACCOUNT),
        ("alpha", 3, "AlphaCurrency"),
        ("netuid", 4, "NetUid"),
    ),
    ("SubtensorModule", "StakeRemoved"): (
        ("coldkey", 0, ACCOUNT),
        ("hotkey", 1, ACCOUNT),
        ("alpha", 3, "AlphaCurrency"),
        ("netuid", 4, "NetUid"),
    ),
    ("SubtensorModule", "TransactionFeePaidWithAlpha"): (("alpha_fee", 2, "AlphaBalance"),),
}


def is_subnet_account(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ss58_decode(address)[1].startswith(SUBNET_ACCOUNT_PREFIX)
    except InvalidSS58:
        return False


def _int(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"not an amount: {value!r:.60}")
    return int(value)


@dataclass(frozen=True, slots=True)
class Inflow:
    address: str  # the deposit address
    netuid: int | None  # None: TAO; else the subnet whose alpha arrived
    hotkey: str | None  # alpha: the hotkey it is staked with
    amount: int
    event_index: int  # the first event that contributed
    extrinsic: int
    sender: str | None  # the extrinsic's signer (who paid its fee)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one extrinsic did, as its events tell."""

    extrinsic: int
    success: bool
    dispatch_error: str | None
    fee: int  # TAO rao (TransactionFeePaid.actual_fee)
    fee_alpha: int  # alpha sold to pay the fee (TransactionFeePaidWithAlpha), if any
    transfers: list[tuple[str, str, int]] = field(default_factory=list)  # (from, to, amount)
    stake_added: list[tuple[str, str, int, int]] = field(default_factory=list)
    # (coldkey, hotkey, netuid, alpha)

    def tao_to(self, source: str, dest: str) -> int:
        return sum(a for f, t, a in self.transfers if f == source and t == dest)

    def alpha_to(self, coldkey: str, netuid: int, hotkey: str | None = None) -> int:
        return sum(
            a
            for c, h, n, a in self.stake_added
            if c == coldkey and n == netuid and (hotkey is None or h == hotkey)
        )


def by_extrinsic(events: Iterable[ChainEvent]) -> dict[int, list[ChainEvent]]:
    out: dict[int, list[ChainEvent]] = {}
    for e in events:
        if e.extrinsic is not None:
            out.setdefault(e.extrinsic, []).append(e)
    return out


def signer_of(events: Sequence[ChainEvent]) -> str | None:
    """Who paid the extrinsic's fee: its signer (None for an unsigned extrinsic)."""
    for e in events:
        if e.pallet == "TransactionPayment" and e.name == "TransactionFeePaid":
            who = e.field("who", 0)
            return str(who) if who is not None else None
    return None


def mentioned_accounts(events: Iterable[ChainEvent]) -> set[str]:
    """Every account a block's fund-moving events name: what to look up as ours."""
    out: set[str] = set()
    for e in events:
        if e.pallet == "Balances" and e.name == "Transfer":
            out.update(str(x) for x in (e.field("from", 0), e.field("to", 1)) if x)
        elif e.pallet == "Balances" and e.name in ("Deposit", "Withdraw"):
            who = e.field("who", 0)
            if who:
                out.add(str(who))
        elif e.pallet == "SubtensorModule" and e.name in ("StakeAdded", "StakeRemoved"):
            cold = e.field("coldkey", 0)
            if cold:
                out.add(str(cold))
        elif e.pallet == "TransactionPayment" and e.name == "TransactionFeePaid":
            who = e.field("who", 0)
            if who:
                out.add(str(who))
    return out


class _Nets:
    def __init__(self, nets: dict[tuple[str, int | None, str | None], list[int]]) -> None:
        self.nets = nets

    def add(self, key: tuple[str, int | None, str | None], amount: int, event: int) -> None:
        entry = self.nets.setdefault(key, [0, -1])
        entry[0] += amount
        if amount > 0 and entry[1] < 0:
            entry[1] = event


def inflows(events: Iterable[ChainEvent], watched: set[str], exchange: set[str]) -> list[Inflow]:
    """Deposits to `watched` addresses, by net change per extrinsic; extrinsics signed by an
    account of `exchange` (which includes `watched`) are skipped."""
    found: list[Inflow] = []
    for index, group in sorted(by_extrinsic(events).items()):
        sender = signer_of(group)
        if sender is not None and sender in exchange:
            continue
        nets: dict[tuple[str, int | None, str | None], list[int]] = {}  # -> [net, first event]
        add = _Nets(nets).add
        for e in group:
            if e.pallet == "Balances" and e.name == "Transfer":
                source, dest = e.field("from", 0), e.field("to", 1)
                amount = _int(e.field("amount", 2))
                if dest in watched and not is_subnet_account(source):
                    add((str(dest), None, None), amount, e.index)
                if source in watched:
                    add((str(source), None, None), -amount, e.index)
            elif e.pallet == "Balances" and e.name in ("Deposit", "Withdraw"):
                who = e.field("who", 0)
                if who in watched:
                    amount = _int(e.field("amount", 1))
                    add((str(who), None, None), amount if e.name == "Deposit" else -amount, e.index)
            elif e.pallet == "SubtensorModule" and e.name in ("StakeAdded", "StakeRemoved"):
                cold = e.field("coldkey", 0)
                if cold in watched:
                    alpha = _int(e.field("alpha", 3))
                    sign = 1 if e.name == "StakeAdded" else -1
                    key = (str(cold), _int(e.field("netuid", 4)), str(e.field("hotkey", 1)))
                    add(key, sign * alpha, e.index)
        for (address, subnet, staked_with), (net, first) in nets.items():
            if net > 0:
                found.append(Inflow(address, subnet, staked_with, net, first, index, sender))
    found.sort(key=lambda i: i.event_index)
    return found


def outcome(extrinsic: int, events: Sequence[ChainEvent]) -> Outcome:
    """The result of extrinsic `extrinsic` from its events (those of its phase)."""
    success, error, fee, fee_alpha = False, None, 0, 0
    transfers: list[tuple[str, str, int]] = []
    added: list[tuple[str, str, int, int]] = []
    for e in events:
        if e.extrinsic != extrinsic:
            continue
        if e.pallet == "System" and e.name == "ExtrinsicSuccess":
            success = True
        elif e.pallet == "System" and e.name == "ExtrinsicFailed":
            error = str(e.field("dispatch_error", 0))[:200]
        elif e.pallet == "TransactionPayment" and e.name == "TransactionFeePaid":
            fee = _int(e.field("actual_fee", 1))
        elif e.pallet == "SubtensorModule" and e.name == "TransactionFeePaidWithAlpha":
            fee_alpha = _int(e.field("alpha_fee", 2))
        elif e.pallet == "Balances" and e.name == "Transfer":
            transfers.append(
                (str(e.field("from", 0)), str(e.field("to", 1)), _int(e.field("amount", 2)))
            )
        elif e.pallet == "SubtensorModule" and e.name == "StakeAdded":
            added.append(
                (
                    str(e.field("coldkey", 0)),
                    str(e.field("hotkey", 1)),
                    _int(e.field("netuid", 4)),
                    _int(e.field("alpha", 3)),
                )
            )
    return Outcome(extrinsic, success, error, fee, fee_alpha, transfers, added)
