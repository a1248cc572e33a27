from app.kit.errors import ServiceUnavailable


class NotLeader(ServiceUnavailable):
    """This sequencer lost its leadership (another one took over): nothing was done."""

    code = "not_leader"
