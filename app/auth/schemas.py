from pydantic import BaseModel


class AccountOut(BaseModel):
    user_id: int
    email: str
    api_key_id: int
    scopes: list[str]
