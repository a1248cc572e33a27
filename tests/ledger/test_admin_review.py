"""The admin's review lists: every user's withdrawals (pending ones are the queue) and the
credited deposits, newest first, paged."""

from tests.conftest import SignedFactory
from tests.ledger.test_endpoints import ADDRESS, TAO, _deposit


async def test_withdrawals_and_deposits_for_review(signed: SignedFactory, assets: None) -> None:
    admin = await signed("admin")
    alice = await signed("read,withdraw")
    bob = await signed("read,withdraw")
    for user, ref in ((alice, "0xa"), (bob, "0xb")):
        assert (await _deposit(admin, user.user_id, str(5 * TAO), ref)).status_code == 201
    ids = []
    for user in (alice, bob, alice):
        r = await user.post(
            "/v1/withdrawals", json={"asset": "TAO", "amount": str(TAO), "destination": ADDRESS}
        )
        assert r.status_code == 201, r.text
        ids.append(r.json()["id"])
    r = await admin.post(f"/v1/admin/withdrawals/{ids[0]}/approve", {"external_tx_ref": "0xtx"})
    assert r.status_code == 200, r.text

    queue = (await admin.get("/v1/admin/withdrawals", {"state": "pending"})).json()
    assert [(w["id"], w["user_id"]) for w in queue["withdrawals"]] == [
        (ids[2], alice.user_id),
        (ids[1], bob.user_id),
    ]
    assert queue["withdrawals"][0]["destination"] == ADDRESS and queue["next_cursor"] is None
    everything = (await admin.get("/v1/admin/withdrawals", {"limit": 2})).json()
    assert [w["id"] for w in everything["withdrawals"]] == [ids[2], ids[1]]
    rest = (
        await admin.get(
            "/v1/admin/withdrawals", {"limit": 2, "before_id": everything["next_cursor"]}
        )
    ).json()
    assert [(w["id"], w["state"]) for w in rest["withdrawals"]] == [(ids[0], "approved")]

    deposits = (await admin.get("/v1/admin/deposits")).json()["deposits"]
    assert [(d["user_id"], d["external_ref"]) for d in deposits] == [
        (bob.user_id, "0xb"),
        (alice.user_id, "0xa"),
    ]
    mine = (await admin.get("/v1/admin/deposits", {"user_id": alice.user_id})).json()["deposits"]
    assert [d["external_ref"] for d in mine] == ["0xa"]

    r = await alice.get("/v1/admin/withdrawals")
    assert (r.status_code, r.json()["code"]) == (403, "permission_denied")
    r = await admin.get("/v1/admin/withdrawals", {"state": "lost"})
    assert (r.status_code, r.json()["code"]) == (422, "validation_error")
