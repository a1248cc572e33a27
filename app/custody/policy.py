"""Custody settings resolved once: keys, minimums, thresholds, delays."""

from dataclasses import dataclass, field

from app.config import Settings
from app.custody.keys import CustodyKeys, CustodySigner, load_keys, load_signer

TAO = "TAO"
# Chain rules the custody code respects (subtensor and pallet_balances):
EXISTENTIAL_DEPOSIT = 500  # rao: an account below it is reaped, a transfer creating one fails


@dataclass(frozen=True)
class Policy:
    keys: CustodyKeys
    signer: CustodySigner | None = None
    validator_hotkey: str | None = None
    min_deposit: dict[str, int] = field(default_factory=dict)
    min_deposit_default: int = 1_000_000
    min_withdrawal: dict[str, int] = field(default_factory=dict)
    min_withdrawal_default: int = 1_000_000
    approval_threshold: dict[str, int] = field(default_factory=dict)
    lock_seconds: int = 0
    tao_fee_reserve: int = 1_000_000
    era_period: int = 64
    sweep_topup: int = 2_000_000

    @classmethod
    def from_settings(cls, settings: Settings, *, with_signer: bool = True) -> "Policy":
        return cls(
            keys=load_keys(settings),
            signer=load_signer(settings) if with_signer else None,
            validator_hotkey=settings.custody_validator_hotkey,
            min_deposit=dict(settings.custody_min_deposit),
            min_deposit_default=settings.custody_min_deposit_default,
            min_withdrawal=dict(settings.custody_min_withdrawal),
            min_withdrawal_default=settings.custody_min_withdrawal_default,
            approval_threshold=dict(settings.custody_approval_threshold),
            lock_seconds=settings.custody_withdrawal_lock_seconds,
            tao_fee_reserve=settings.custody_tao_fee_reserve,
            era_period=settings.custody_era_period,
            sweep_topup=settings.custody_sweep_topup,
        )

    def minimum_deposit(self, asset: str) -> int:
        return self.min_deposit.get(asset, self.min_deposit_default)

    def minimum_withdrawal(self, asset: str) -> int:
        return self.min_withdrawal.get(asset, self.min_withdrawal_default)

    def needs_approval(self, asset: str, amount: int) -> bool:
        threshold = self.approval_threshold.get(asset)
        return threshold is not None and amount > threshold

    def fee_reserve(self, asset: str) -> int:
        """What a withdrawal holds beyond its amount for the chain fee the user pays: TAO
        withdrawals pay their fee; for alpha the exchange pays it (in TAO)."""
        return self.tao_fee_reserve if asset == TAO else 0
