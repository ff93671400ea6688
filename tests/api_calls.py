"""What the API's tests share besides fixtures: the demo's as-of date, the headers that carry
a token, and the warehouses a test may run on."""

import pytest

AS_OF = "2026-05-15"  # the demo's "now": its model is trained and its risks stored as of it


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# a test on both warehouses: @pytest.mark.parametrize("settings", ON_BOTH, indirect=True)
ON_BOTH = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
