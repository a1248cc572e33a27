from app.auth.signing import sign, signature_matches

# Kraken's documented example (docs.kraken.com, "Authentication").
SECRET = "kQH5HW/8p1uGOVjbgWA7FunAmGO8lsSUXNsu3eow76sz84Q18fWxnyRzBHCd3pd5nE9qa99HAZtuZuj6F1huXg=="
NONCE = "1616492376594"
PATH = "/0/private/AddOrder"
BODY = "nonce=1616492376594&ordertype=limit&pair=XBTUSD&price=37500&type=buy&volume=1.25"
EXPECTED = (
    "4/dpxb3iT4tp/ZCVEwSnEsLxx0bqyhLpdfOpc6fn7OR8+UClSV5n9E6aSS8MPtnRfp32bAb0nmbRn6H8ndwLUQ=="
)


def test_krakens_documented_vector() -> None:
    assert sign(SECRET, PATH, NONCE, BODY) == EXPECTED


def test_verification_accepts_the_vector_and_rejects_any_change() -> None:
    import base64

    raw = base64.b64decode(SECRET)
    assert signature_matches(raw, PATH, NONCE, BODY.encode(), EXPECTED)
    assert not signature_matches(raw, PATH, NONCE, (BODY + "0").encode(), EXPECTED)
    assert not signature_matches(raw, "/0/private/CancelOrder", NONCE, BODY.encode(), EXPECTED)
    assert not signature_matches(raw, PATH, "1616492376595", BODY.encode(), EXPECTED)
    assert not signature_matches(raw, PATH, NONCE, BODY.encode(), "not base64!")
