"""Staking errors, each with a stable code."""

from app.kit.errors import BadRequest, Conflict, NotFound


class ValidatorNotFound(NotFound):
    code = "validator_not_found"


class ValidatorOfAnotherSubnet(BadRequest):
    code = "validator_wrong_subnet"


class ValidatorWithoutPermit(BadRequest):
    code = "validator_without_permit"


class AllocationNotFound(NotFound):
    code = "allocation_not_found"


class AllocationExceeded(BadRequest):
    code = "allocation_exceeded"


class InvalidStakingSetting(BadRequest):
    code = "invalid_staking_setting"


class InvalidHotkey(BadRequest):
    code = "invalid_hotkey"


class FlowPeriodClosed(Conflict):
    code = "flow_period_closed"
