"""Proof-of-reserves errors, one class per stable code."""

from app.kit.errors import Conflict, NotFound


class AuditNotFound(NotFound):
    """No audit yet, or none of that id."""

    code = "por_audit_not_found"


class LeafNotFound(NotFound):
    """The caller held nothing at that audit's block: no leaf of theirs is in its tree."""

    code = "por_leaf_not_found"


class NothingToProve(Conflict):
    """No user has a ledger account yet: an audit needs at least one leaf."""

    code = "por_nothing_to_prove"
