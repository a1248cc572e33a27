"""All tables, one module each. Importing this package registers them on `Base.metadata`."""

from app.models.api_key import ApiKey
from app.models.base import Base
from app.models.user import User

__all__ = ["ApiKey", "Base", "User"]
