"""What the API's tests share besides fixtures: the demo's as-of date and the headers that carry
a token."""

AS_OF = "2026-05-15"  # the demo's "now": its model is trained and its risks stored as of it


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}
