"""The admin routes for users and their keys: list, create, issue, revoke; each change is
audited (never with a secret), a refused request writes nothing."""

from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.conftest import SignedFactory
from tests.signing import SignedClient


async def audit(admin: SignedClient) -> list[dict[str, object]]:
    entries: list[dict[str, object]] = (await admin.get("/v1/admin/audit")).json()["entries"]
    return entries


async def test_create_list_issue_and_revoke(signed: SignedFactory, app: FastAPI) -> None:
    admin = await signed("read,admin", email="root@example.com")
    r = await admin.post("/v1/admin/users", {"email": " Alice@Example.com ", "name": "Alice"})
    assert r.status_code == 201, r.text
    alice = r.json()
    assert (alice["email"], alice["name"], alice["live_keys"]) == ("alice@example.com", "Alice", 0)

    # Issue: the secret comes once, and signs requests as Alice.
    r = await admin.post(
        f"/v1/admin/users/{alice['id']}/keys", {"scopes": ["read", "trade"], "label": "bot"}
    )
    assert r.status_code == 201, r.text
    issued = r.json()
    assert issued["scopes"] == ["read", "trade"] and issued["label"] == "bot"
    assert issued["user_id"] == alice["id"] and issued["revoked_at"] is None
    as_alice = SignedClient(admin.client, issued["api_key"], issued["api_secret"], alice["id"])
    me = (await as_alice.get("/v1/account")).json()
    assert (me["email"], me["api_key_id"]) == ("alice@example.com", issued["id"])

    # Listed, newest first, with live key counts; filtered by part of the email.
    page = (await admin.get("/v1/admin/users")).json()
    assert [(u["email"], u["live_keys"]) for u in page["users"]] == [
        ("alice@example.com", 1),
        ("root@example.com", 1),
    ]
    assert page["next_cursor"] is None
    page = (await admin.get("/v1/admin/users", {"limit": 1})).json()
    assert [u["email"] for u in page["users"]] == ["alice@example.com"]
    older = (await admin.get("/v1/admin/users", {"limit": 1, "cursor": page["next_cursor"]})).json()
    assert [u["email"] for u in older["users"]] == ["root@example.com"]
    assert [
        u["email"] for u in (await admin.get("/v1/admin/users", {"email": "ALI"})).json()["users"]
    ] == ["alice@example.com"]
    assert (await admin.get("/v1/admin/users", {"email": "%"})).json()["users"] == []  # literal

    # Keys of a user: never a secret.
    keys = (await admin.get(f"/v1/admin/users/{alice['id']}/keys")).json()["keys"]
    assert [k["id"] for k in keys] == [issued["id"]]
    assert not {"api_secret", "api_key", "secret", "key"} & set(keys[0])

    # Revoke (the existing route), then the key is refused.
    r = await admin.post(f"/v1/admin/keys/{issued['id']}/revoke", {"reason": "rotated"})
    assert r.status_code == 200, r.text
    assert (await as_alice.get("/v1/account")).json()["code"] == "key_revoked"
    keys = (await admin.get(f"/v1/admin/users/{alice['id']}/keys")).json()["keys"]
    assert keys[0]["revoked_at"] is not None

    entries = await audit(admin)
    assert [e["action"] for e in entries] == ["api_key.revoke", "api_key.issue", "user.create"]
    issue = entries[1]
    assert issue["target_id"] == str(issued["id"]) and issue["actor_user_id"] == admin.user_id
    assert issue["after"] == {"user_id": alice["id"], "scopes": ["read", "trade"], "label": "bot"}
    assert issued["api_secret"] not in str(entries)


async def test_refusals_write_nothing(signed: SignedFactory, db: AsyncEngine) -> None:
    admin = await signed("read,admin", email="root@example.com")
    reader = await signed("read", email="reader@example.com")

    async def count() -> tuple[int, int, int]:
        async with db.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM api_keys), "
                        "(SELECT count(*) FROM audit_log)"
                    )
                )
            ).one()
        return row[0], row[1], row[2]

    before = await count()
    cases = [
        (reader.post("/v1/admin/users", {"email": "x@example.com"}), 403, "permission_denied"),
        (reader.get("/v1/admin/users"), 403, "permission_denied"),
        (
            reader.post(f"/v1/admin/users/{reader.user_id}/keys", {"scopes": ["admin"]}),
            403,
            "permission_denied",
        ),
        (admin.post("/v1/admin/users", {"email": "reader@example.com"}), 409, "user_exists"),
        (admin.post("/v1/admin/users", {"email": "not an email"}), 400, "invalid_email"),
        (admin.post("/v1/admin/users", {"email": "a@b"}), 400, "invalid_email"),
        (admin.post("/v1/admin/users/999/keys", {"scopes": ["read"]}), 404, "user_not_found"),
        (admin.get("/v1/admin/users/999/keys"), 404, "user_not_found"),
        (
            admin.post(f"/v1/admin/users/{reader.user_id}/keys", {"scopes": []}),
            422,
            "validation_error",
        ),
        (
            admin.post(f"/v1/admin/users/{reader.user_id}/keys", {"scopes": ["root"]}),
            422,
            "validation_error",
        ),
        (admin.post("/v1/admin/keys/999/revoke", {"reason": "x"}), 404, "key_not_found"),
    ]
    for request, status, code in cases:
        r = await request
        assert (r.status_code, r.json()["code"]) == (status, code), r.text
    assert await count() == before
