"""Custody errors, one class per stable code."""

from app.kit.errors import BadRequest, Conflict, NotFound, ServiceUnavailable


class CustodyNotConfigured(ServiceUnavailable):
    """No custody keys on this host (finney without EXCHANGE_CUSTODY_* settings)."""

    code = "custody_not_configured"


class TooManyDepositAddresses(Conflict):
    code = "too_many_deposit_addresses"


class DepositAddressNotFound(NotFound):
    code = "deposit_address_not_found"


class ChainDepositNotFound(NotFound):
    code = "deposit_not_found"


class DepositNotHeld(Conflict):
    """Only a deposit that was recorded without being credited can be credited by an admin."""

    code = "deposit_not_held"


class WithdrawalAddressNotFound(NotFound):
    """No withdrawal address of that name (Kraken: an unknown withdrawal key)."""

    code = "withdrawal_address_not_found"


class WithdrawalAddressExists(Conflict):
    code = "withdrawal_address_exists"


class TooManyWithdrawalAddresses(Conflict):
    code = "too_many_withdrawal_addresses"


class WithdrawalAddressLocked(Conflict):
    """The address was added less than the lock delay ago."""

    code = "withdrawal_address_locked"


class WrongAssetForAddress(BadRequest):
    code = "wrong_asset_for_address"


class ExchangeAddress(BadRequest):
    """An address of this exchange (a deposit address or the omnibus) as a withdrawal
    destination: the scanner ignores the exchange's own transfers, so it would never be
    credited."""

    code = "exchange_address"


class AmountBelowMinimum(BadRequest):
    code = "amount_below_minimum"


class IdempotencyConflict(Conflict):
    """The idempotency key was used before for a withdrawal with other parameters."""

    code = "idempotency_key_conflict"


class UnsupportedAsset(BadRequest):
    """An asset that does not live on chain as TAO or a subnet's alpha."""

    code = "unsupported_asset"
