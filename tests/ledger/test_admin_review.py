"""The admin's list of admin-credited deposits, newest first, paged (withdrawals awaiting
review are the custody domain's: tests/custody)."""

from tests.conftest import SignedFactory
from tests.ledger.test_endpoints import TAO, _deposit


async def test_admin_credited_deposits_for_review(signed: SignedFactory, assets: None) -> None:
    admin = await signed("admin")
    alice = await signed("read,withdraw")
    bob = await signed("read,withdraw")
    for user, ref in ((alice, "0xa"), (bob, "0xb")):
        assert (await _deposit(admin, user.user_id, str(5 * TAO), ref)).status_code == 201
    deposits = (await admin.get("/v1/admin/deposits")).json()["deposits"]
    assert [(d["user_id"], d["external_ref"]) for d in deposits] == [
        (bob.user_id, "0xb"),
        (alice.user_id, "0xa"),
    ]
    mine = (await admin.get("/v1/admin/deposits", {"user_id": alice.user_id})).json()["deposits"]
    assert [d["external_ref"] for d in mine] == ["0xa"]

    r = await alice.get("/v1/admin/deposits")
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
    r = await admin.get("/v1/admin/deposits", {"limit": "0"})
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
