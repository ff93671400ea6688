"""Tests of the synthetic bundle generator: shape per the data contract, time, realism, mess.

These read the written files with csv/json only; ingestion is tested elsewhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from okr_pipeline.sources.synthetic import generate_bundle

AS_OF = dt.date(2026, 2, 14)
CUTOFF = dt.datetime(2026, 2, 14, tzinfo=dt.UTC)  # the snapshot: start of as_of, UTC
ENTITIES = ("objectives", "key_results", "check_ins", "milestones", "tasks")
REASONS = {
    "missing_field", "invalid_number", "invalid_date", "invalid_timestamp", "invalid_enum",
    "out_of_range", "period_order", "target_equals_start", "unknown_reference",
}  # fmt: skip

# Copied from the contract (section 1), not imported, so the generator is checked against it.
CONTRACT_COLUMNS = {
    "objectives": ["objective_id", "title", "department", "owner_id", "period_start", "period_end",
                   "status", "priority", "parent_objective_id", "updated_at"],
    "key_results": ["key_result_id", "objective_id", "title", "metric_type", "start_value",
                    "target_value", "unit", "weight", "owner_id", "due_date", "updated_at"],
    "check_ins": ["check_in_id", "key_result_id", "checked_in_at", "value", "confidence", "note",
                  "author_id"],
    "milestones": ["milestone_id", "key_result_id", "title", "due_date", "completed_at", "weight"],
    "tasks": ["task_id", "title", "plan_id", "parent_task_id", "key_result_id", "weight",
              "priority", "status", "planned_for", "completed_at", "updated_at"],
}  # fmt: skip
TIMESTAMPS = {
    "objectives": ["updated_at"],
    "key_results": ["updated_at"],
    "check_ins": ["checked_in_at"],
    "milestones": ["completed_at"],
    "tasks": ["completed_at", "updated_at"],
}


# -- reading a bundle with nothing but csv and json --------------------------------------------


def entity_file(bundle: Path, entity: str) -> Path:
    found = [p for p in (bundle / f"{entity}.csv", bundle / f"{entity}.jsonl") if p.exists()]
    assert len(found) == 1, f"{entity}: expected exactly one of .csv/.jsonl, found {found}"
    return found[0]


def read_rows(bundle: Path, entity: str) -> list[dict[str, Any]]:
    path = entity_file(bundle, entity)
    if path.suffix == ".csv":
        with path.open(encoding="utf-8-sig", newline="") as f:
            return list(csv.DictReader(f))
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def read_plans(bundle: Path) -> list[dict[str, Any]]:
    data = json.loads((bundle / "plan_tasks.json").read_text(encoding="utf-8"))
    return data["data"] if isinstance(data, dict) else data


def plan_task_rows(bundle: Path) -> list[dict[str, Any]]:
    """Flatten plan_tasks.json into task rows (contract section 3, keyResultId inherited)."""
    rows = []
    for plan in read_plans(bundle):
        for task in plan["tasks"]:
            kr = task.get("keyResultId") or plan.get("keyResultId")
            rows.append({"task_id": task.get("id"), "plan_id": plan["id"], "key_result_id": kr,
                         "status": task.get("status")})  # fmt: skip
            for daily in task["planTask"]:
                rows.append({"task_id": daily.get("id"), "parent_task_id": task.get("id"),
                             "key_result_id": daily.get("keyResultId") or kr,
                             "status": daily.get("status")})  # fmt: skip
    return rows


def text(value: Any) -> str | None:
    """Contract strings: trimmed, empty or null means missing."""
    if value is None:
        return None
    value = str(value).strip()
    return value or None


def instant(value: str) -> dt.datetime:
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def valid_timestamps(bundle: Path) -> list[tuple[str, str]]:
    out = []
    for entity, fields in TIMESTAMPS.items():
        for row in read_rows(bundle, entity):
            for name in fields:
                value = text(row.get(name))
                if value is None:
                    continue
                try:
                    instant(value)
                except ValueError:  # deliberately broken rows of a messy bundle
                    continue
                out.append((entity, value))
    return out


def bundle_bytes(bundle: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(bundle.iterdir())}


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("clean") / "bundle"
    return out, generate_bundle(out, seed=3, scale=0.2, as_of=AS_OF)


@pytest.fixture(scope="module")
def messy(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("messy") / "bundle"
    return out, generate_bundle(out, seed=4, scale=0.2, messy=True, as_of=AS_OF)


@pytest.fixture(params=["clean", "messy"])
def any_bundle(request: pytest.FixtureRequest) -> tuple[Path, dict]:
    return request.getfixturevalue(request.param)


# -- determinism ---------------------------------------------------------------------------------


def test_same_arguments_give_identical_bytes(tmp_path: Path) -> None:
    kwargs: dict[str, Any] = {"scale": 0.05, "messy": True, "as_of": AS_OF}
    first = generate_bundle(tmp_path / "a", seed=7, **kwargs)
    second = generate_bundle(tmp_path / "b", seed=7, **kwargs)
    other = generate_bundle(tmp_path / "c", seed=8, **kwargs)
    assert first == second
    assert bundle_bytes(tmp_path / "a") == bundle_bytes(tmp_path / "b")
    assert bundle_bytes(tmp_path / "a") != bundle_bytes(tmp_path / "c")
    assert other["rows"] != first["rows"]


def test_regenerating_into_the_same_directory_leaves_one_file_per_entity(tmp_path: Path) -> None:
    # Seeds of different parity pick different JSONL entities; no stale file may remain.
    generate_bundle(tmp_path, seed=1, scale=0.05, as_of=AS_OF)
    generate_bundle(tmp_path, seed=2, scale=0.05, as_of=AS_OF)
    for entity in ENTITIES:
        entity_file(tmp_path, entity)


# -- shape per the contract ----------------------------------------------------------------------


def test_files_parse_and_have_the_contract_columns(any_bundle: tuple[Path, dict]) -> None:
    bundle, manifest = any_bundle
    assert any(entity_file(bundle, e).suffix == ".jsonl" for e in ENTITIES)
    for entity in ENTITIES:
        path = entity_file(bundle, entity)
        if path.suffix == ".csv":
            with path.open(encoding="utf-8-sig", newline="") as f:
                header = next(csv.reader(f))
            assert header[: len(CONTRACT_COLUMNS[entity])] == CONTRACT_COLUMNS[entity]
            assert set(header) - set(CONTRACT_COLUMNS[entity]) <= {"legacy_code"}
        else:
            for row in read_rows(bundle, entity):
                assert set(row) <= set(CONTRACT_COLUMNS[entity])
        assert path.name in manifest["files"][entity]


def test_plan_tasks_have_the_endpoint_shape(any_bundle: tuple[Path, dict]) -> None:
    bundle, _ = any_bundle
    plans = read_plans(bundle)
    assert plans
    for plan in plans:
        assert isinstance(plan["id"], str)
        assert isinstance(plan["tasks"], list)
        for task in plan["tasks"]:
            assert isinstance(task["planTask"], list)
    assert any("keyResultId" in plan for plan in plans)
    assert any("keyResultId" in task for plan in plans for task in plan["tasks"])
    assert any(task["planTask"] for plan in plans for task in plan["tasks"])


def test_rows_in_files_match_the_manifest(any_bundle: tuple[Path, dict]) -> None:
    bundle, manifest = any_bundle
    for entity in ENTITIES:
        rows = len(read_rows(bundle, entity))
        if entity == "tasks":
            rows += len(plan_task_rows(bundle))
        assert manifest["rows"][entity] == rows
        assert manifest["expected"][entity]["read"] == rows


def test_task_ids_are_unique_across_tasks_csv_and_plan_tasks(clean: tuple[Path, dict]) -> None:
    bundle, _ = clean
    ids = [r["task_id"] for r in read_rows(bundle, "tasks")]
    ids += [r["task_id"] for r in plan_task_rows(bundle)]
    assert len(ids) == len(set(ids))
    assert len(read_rows(bundle, "tasks")) > 0 and len(plan_task_rows(bundle)) > 0


def test_clean_bundle_expects_every_row_stored(clean: tuple[Path, dict]) -> None:
    _, manifest = clean
    for entity in ENTITIES:
        counts = manifest["expected"][entity]
        assert counts["read"] == counts["stored"] > 0
        assert counts["unchanged"] == counts["quarantined"] == 0 and counts["by_reason"] == {}


# -- time ----------------------------------------------------------------------------------------


def test_no_timestamp_after_as_of(any_bundle: tuple[Path, dict]) -> None:
    bundle, _ = any_bundle
    stamps = valid_timestamps(bundle)
    assert len(stamps) > 1000
    late = [(e, v) for e, v in stamps if instant(v) >= CUTOFF]
    assert late == []


def test_timestamps_mix_zones_and_naive(clean: tuple[Path, dict]) -> None:
    bundle, _ = clean
    values = [v for _, v in valid_timestamps(bundle)]
    assert any(v.endswith("Z") for v in values)
    assert any(v.endswith(("+03:00", "+05:30", "+01:00")) for v in values)
    assert any(v.endswith("-05:00") for v in values)
    assert any(dt.datetime.fromisoformat(v).tzinfo is None for v in values)


def test_periods_are_eight_calendar_quarters_up_to_as_of(clean: tuple[Path, dict]) -> None:
    bundle, _ = clean
    periods = {(o["period_start"], o["period_end"]) for o in read_rows(bundle, "objectives")}
    assert min(periods) == ("2024-04-01", "2024-06-30")
    assert max(periods) == ("2026-01-01", "2026-03-31")
    assert len(periods) == 8


def test_open_key_results_exist_and_have_only_past_check_ins(clean: tuple[Path, dict]) -> None:
    bundle, _ = clean
    objectives = {o["objective_id"]: o for o in read_rows(bundle, "objectives")}
    open_krs = {
        kr["key_result_id"]
        for kr in read_rows(bundle, "key_results")
        if dt.date.fromisoformat(due_date(kr, objectives)) > AS_OF
    }
    assert len(open_krs) >= 20
    open_check_ins = [c for c in read_rows(bundle, "check_ins") if c["key_result_id"] in open_krs]
    assert open_check_ins
    assert all(instant(c["checked_in_at"]) < CUTOFF for c in open_check_ins)


# -- realism -------------------------------------------------------------------------------------


def due_date(kr: dict[str, Any], objectives: dict[str, dict[str, Any]]) -> str:
    return text(kr["due_date"]) or objectives[kr["objective_id"]]["period_end"]


def number(value: Any, default: float | None = None) -> float | None:
    value = text(value)
    return default if value is None else float(value)


def outcomes(bundle: Path) -> list[bool]:
    """Achieved or not for every closed key result, per the contract's section 2."""
    objectives = {o["objective_id"]: o for o in read_rows(bundle, "objectives")}
    check_ins: dict[str, list[tuple[dt.datetime, float]]] = {}
    for c in read_rows(bundle, "check_ins"):
        check_ins.setdefault(c["key_result_id"], []).append(
            (instant(c["checked_in_at"]), float(c["value"]))
        )
    result = []
    for kr in read_rows(bundle, "key_results"):
        objective = objectives[kr["objective_id"]]
        due = dt.date.fromisoformat(due_date(kr, objectives))
        if due >= AS_OF or objective["status"].lower() == "cancelled":
            continue
        end = dt.datetime.combine(due + dt.timedelta(days=1), dt.time(), dt.UTC)
        start, target = number(kr["start_value"], 0.0), float(kr["target_value"])
        seen = sorted(c for c in check_ins.get(kr["key_result_id"], []) if c[0] <= end)
        progress = (seen[-1][1] - start) / (target - start) if seen else 0.0
        result.append(min(1.0, max(0.0, progress)) >= 0.7)
    return result


def test_miss_rate_of_closed_key_results_is_realistic(clean: tuple[Path, dict]) -> None:
    achieved = outcomes(clean[0])
    assert len(achieved) > 200
    miss_rate = 1 - sum(achieved) / len(achieved)
    assert 0.25 <= miss_rate <= 0.5


def test_key_results_cover_every_metric_type_and_decreases(clean: tuple[Path, dict]) -> None:
    bundle, _ = clean
    krs = read_rows(bundle, "key_results")
    types = {kr["metric_type"].lower() for kr in krs}
    assert types == {"percentage", "number", "currency", "boolean", "milestone"}
    decreasing = [kr for kr in krs if float(kr["target_value"]) < number(kr["start_value"], 0.0)]
    assert 0.07 <= len(decreasing) / len(krs) <= 0.25
    for kr in krs:
        if kr["metric_type"].lower() == "boolean":
            assert number(kr["start_value"], 0.0) == 0 and float(kr["target_value"]) == 1
    milestones: dict[str, int] = {}
    for m in read_rows(bundle, "milestones"):
        milestones[m["key_result_id"]] = milestones.get(m["key_result_id"], 0) + 1
    for kr in krs:
        if kr["metric_type"].lower() == "milestone":
            assert milestones[kr["key_result_id"]] == float(kr["target_value"])


def test_statuses_confidence_and_text_are_varied(clean: tuple[Path, dict]) -> None:
    bundle, _ = clean
    objectives = read_rows(bundle, "objectives")
    statuses = {o["status"].lower() for o in objectives}
    assert statuses == {"active", "completed", "cancelled", "on_hold"}
    assert any(o["status"] not in statuses for o in objectives)  # mixed case occurs
    check_ins = read_rows(bundle, "check_ins")
    confidences = [number(c.get("confidence")) for c in check_ins]
    known = [c for c in confidences if c is not None]
    assert min(known) >= 0 and max(known) <= 10 and len(known) < len(confidences)
    titles = [o["title"] for o in objectives] + [
        k["title"] for k in read_rows(bundle, "key_results")
    ]
    assert any(not t.isascii() for t in titles)
    assert any('"' in t for t in titles) and any("," in t for t in titles)


def test_rows_grow_linearly_with_scale(tmp_path: Path) -> None:
    small = generate_bundle(tmp_path / "s", seed=5, scale=0.1, as_of=AS_OF)
    large = generate_bundle(tmp_path / "l", seed=5, scale=0.3, as_of=AS_OF)
    ratio = sum(large["rows"].values()) / sum(small["rows"].values())
    assert 2.4 <= ratio <= 3.6
    assert 2000 <= sum(small["rows"].values()) <= 4500  # about 30,000 rows at scale 1


@pytest.mark.parametrize("messy", [False, True])
def test_progress_reports_increments_that_add_up_to_rows_written(
    tmp_path: Path, messy: bool
) -> None:
    # Increments, so that the callback can be a progress bar's update(n).
    calls: list[int] = []
    manifest = generate_bundle(
        tmp_path, seed=1, scale=0.2, messy=messy, as_of=AS_OF, progress=calls.append
    )
    assert len(calls) >= 2
    assert all(n > 0 for n in calls)
    assert calls[:-1] == [calls[0]] * (len(calls) - 1)  # every few thousand rows
    assert calls[-1] <= calls[0]  # then the rest, once
    assert sum(calls) == sum(manifest["rows"].values())
    assert sum(calls) == sum(counts["read"] for counts in manifest["expected"].values())


# -- messy ---------------------------------------------------------------------------------------


def test_messy_expected_counts_are_consistent(messy: tuple[Path, dict]) -> None:
    _, manifest = messy
    seen_reasons: set[str] = set()
    for entity in ENTITIES:
        counts = manifest["expected"][entity]
        assert counts["read"] == counts["stored"] + counts["unchanged"] + counts["quarantined"]
        assert sum(counts["by_reason"].values()) == counts["quarantined"] > 0
        assert set(counts["by_reason"]) <= REASONS
        seen_reasons |= set(counts["by_reason"])
    assert seen_reasons == REASONS
    for entity in ("objectives", "key_results", "check_ins", "tasks"):
        assert manifest["expected"][entity]["unchanged"] > 0


def test_messy_clean_rows_keep_unique_ids_and_older_versions_are_older(
    messy: tuple[Path, dict],
) -> None:
    bundle, manifest = messy
    for entity, key in (("objectives", "objective_id"), ("key_results", "key_result_id")):
        by_id: dict[str, list[dict[str, Any]]] = {}
        for row in read_rows(bundle, entity):
            if text(row[key]):
                by_id.setdefault(row[key], []).append(row)
        repeated = {k: rows for k, rows in by_id.items() if len(rows) > 1}
        assert len(repeated) == manifest["expected"][entity]["unchanged"]
        for rows in repeated.values():
            assert len({r["title"] for r in rows}) == len(rows)
            assert len({instant(r["updated_at"]) for r in rows}) == len(rows)


def test_messy_re_sent_check_ins_say_the_same_thing(messy: tuple[Path, dict]) -> None:
    bundle, manifest = messy
    first: dict[str, dict[str, Any]] = {}
    repeats = 0
    for row in read_rows(bundle, "check_ins"):
        key = text(row.get("check_in_id"))
        if key is None:
            continue
        if key in first:
            repeats += 1
            for name in CONTRACT_COLUMNS["check_ins"]:
                assert text(row.get(name)) == text(first[key].get(name))
        else:
            first[key] = row
    assert repeats == manifest["expected"]["check_ins"]["unchanged"]


def test_messy_files_carry_file_level_mess(messy: tuple[Path, dict]) -> None:
    bundle, _ = messy
    csv_files = sorted(bundle.glob("*.csv"))
    raw = {p.name: p.read_bytes() for p in csv_files}
    assert any(data.startswith(b"\xef\xbb\xbf") for data in raw.values())
    assert any(b"\r\n" in data for data in raw.values())
    assert any(b"\r\n" not in data for data in raw.values())
    headers = []
    embedded_newline = False
    for path in csv_files:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f)
            headers.append(next(reader))
            embedded_newline |= any("\n" in value for row in reader for value in row)
    assert any("legacy_code" in h for h in headers)
    assert embedded_newline
    lines = (bundle / "check_ins.jsonl").read_text(encoding="utf-8").splitlines()
    assert any(isinstance(json.loads(line).get("value"), str) for line in lines)
