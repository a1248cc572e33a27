"""All tables, one module each. Importing this package registers them on `Base.metadata`."""

from app.models.api_key import ApiKey
from app.models.base import Base
from app.models.custody_position import CustodyPosition
from app.models.indexer_state import IndexerState
from app.models.subnet import Subnet
from app.models.subnet_history import SubnetHistory
from app.models.user import User
from app.models.validator import Validator

__all__ = [
    "ApiKey",
    "Base",
    "CustodyPosition",
    "IndexerState",
    "Subnet",
    "SubnetHistory",
    "User",
    "Validator",
]
