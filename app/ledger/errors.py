"""Ledger errors, each with a stable code. Amount/asset/address problems are 400s."""

from app.auth import errors as auth_errors
from app.kit.errors import BadRequest, Conflict, NotFound


class InsufficientFunds(BadRequest):
    code = "insufficient_funds"


class InvalidAmount(BadRequest):
    code = "invalid_amount"


class NonPositiveAmount(BadRequest):
    code = "non_positive_amount"


class AmountTooLarge(BadRequest):
    code = "amount_too_large"


class UnknownAsset(BadRequest):
    code = "unknown_asset"


class UnknownAccount(BadRequest):
    code = "unknown_account"


class AssetMismatch(BadRequest):
    code = "asset_mismatch"


class InvalidTransfer(BadRequest):
    code = "invalid_transfer"


class InvalidAddress(BadRequest):
    code = "invalid_address"


class HoldExceeded(BadRequest):
    code = "hold_exceeded"


class InvalidCursor(BadRequest):
    code = "invalid_cursor"


class TransferIdConflict(Conflict):
    code = "transfer_id_conflict"


class HoldIdConflict(Conflict):
    code = "hold_id_conflict"


class DepositConflict(Conflict):
    code = "deposit_conflict"


class InvalidState(Conflict):
    code = "invalid_state"


class HoldNotFound(NotFound):
    code = "hold_not_found"


class WithdrawalNotFound(NotFound):
    code = "withdrawal_not_found"


UserNotFound = auth_errors.UserNotFound  # users belong to app.auth: one class per code
