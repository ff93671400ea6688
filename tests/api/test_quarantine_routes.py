"""The quarantine routes on real ingests: rows refused for a missing parent are listed (filters,
pages), and a retry once the parent has arrived stores them and resolves them."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from api_calls import bearer
from okr_pipeline import jobs
from okr_pipeline.config import Settings

CHECK_INS = 5


def _orphans_then_parents(settings: Settings, folder: Path) -> None:
    """Check-ins of a key result not stored yet (quarantined), then a messy objective, then
    the key result itself: its check-ins may now be stored."""
    folder.mkdir()
    check_ins = folder / "check_ins.csv"
    check_ins.write_text(
        "check_in_id,key_result_id,checked_in_at,value\n"
        + "".join(f"ci-q{n},kr-q1,2026-04-0{n + 1}T09:00:00Z,{n}\n" for n in range(CHECK_INS))
    )
    jobs.ingest_path(settings, check_ins)
    objectives = folder / "objectives.csv"
    objectives.write_text(
        "objective_id,title,period_start,period_end\n"
        "obj-q1,Quality,2026-04-01,2026-06-30\n"
        "obj-q2,Backwards,2026-06-30,2026-04-01\n"  # a period that ends before it starts
    )
    jobs.ingest_path(settings, objectives)
    key_results = folder / "key_results.csv"
    key_results.write_text(
        "key_result_id,objective_id,title,metric_type,target_value\n"
        "kr-q1,obj-q1,Defects,number,10\n"
    )
    jobs.ingest_path(settings, key_results)


def _listed(client: FlaskClient, token: str, query: str = "") -> list[dict[str, Any]]:
    response = client.get(f"/api/v1/quarantine?limit=500{query}", headers=bearer(token))
    assert response.status_code == 200, response.get_data(True)
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def test_retry_stores_the_rows_whose_parent_arrived(
    client: FlaskClient, settings: Settings, tokens: Any, tmp_path: Path
):
    _orphans_then_parents(settings, tmp_path / "bundle")
    waiting = _listed(client, tokens.viewer, "&reason=unknown_reference")
    assert sorted(row["raw"].split(",")[0] for row in waiting) == [
        f"ci-q{n}" for n in range(CHECK_INS)
    ]
    assert {row["entity"] for row in waiting} == {"check_ins"}
    assert all(row["line"] and row["source"].endswith("check_ins.csv") for row in waiting)
    (backwards,) = _listed(client, tokens.viewer, "&entity=objectives")
    assert backwards["reason"] == "period_order"

    response = client.post("/api/v1/quarantine/retry", headers=bearer(tokens.editor))
    assert response.status_code == 200, response.get_data(True)
    report = response.get_json()
    assert report["resolved_from_quarantine"] == CHECK_INS
    assert report["entities"]["check_ins"]["stored"] == CHECK_INS
    assert report["totals"]["quarantined"] == 1  # the backwards objective, still refused

    assert _listed(client, tokens.viewer, "&reason=unknown_reference") == []
    (still,) = _listed(client, tokens.viewer)
    assert still["id"] == backwards["id"] and still["resolved_at"] is None
    resolved = [r for r in _listed(client, tokens.viewer, "&resolved=true") if r["resolved_at"]]
    assert sorted(r["id"] for r in resolved) == sorted(r["id"] for r in waiting)
    assert {r["resolved_run_id"] for r in resolved} == {report["run_id"]}
    record = jobs.key_result_record(settings, "kr-q1", datetime(2026, 5, 1))
    assert len(record["check_ins"]) == CHECK_INS


def test_pages_in_the_order_of_quarantine(
    client: FlaskClient, settings: Settings, tokens: Any, tmp_path: Path
):
    _orphans_then_parents(settings, tmp_path / "bundle")
    every = _listed(client, tokens.viewer)
    assert len(every) == CHECK_INS + 1
    paged, cursor = [], None
    while True:
        query = "limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = client.get(f"/api/v1/quarantine?{query}", headers=bearer(tokens.viewer))
        paged += page.get_json()["items"]
        if not (cursor := page.get_json()["next_cursor"]):
            break
    assert paged == every and [r["id"] for r in paged] == sorted(r["id"] for r in every)
    bad = client.get("/api/v1/quarantine?reason=lost", headers=bearer(tokens.viewer))
    assert bad.status_code == 422
