"""The `okr` command: JSON shapes, exit codes and clear messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from okr_pipeline.cli import main


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_ingest_json_shape_and_reconciliation(contract_bundle: Path):
    code, out, _ = _run("ingest", str(contract_bundle), "--json")
    assert code == 0
    report = json.loads(out)
    assert set(report) >= {"run_id", "entities", "totals", "warnings"}
    assert set(report["entities"]) == {
        "objectives",
        "key_results",
        "check_ins",
        "milestones",
        "tasks",
    }
    for counts in [*report["entities"].values(), report["totals"]]:
        assert set(counts) == {"read", "stored", "unchanged", "quarantined", "by_reason"}
        assert counts["read"] == counts["stored"] + counts["unchanged"] + counts["quarantined"]
        assert sum(counts["by_reason"].values()) == counts["quarantined"]
    assert report["totals"]["read"] == 40

    code, out, _ = _run("ingest", str(contract_bundle), "--json")
    again = json.loads(out)
    assert again["totals"]["stored"] == 0 and again["run_id"] != report["run_id"]


def test_status_and_quarantine_commands(contract_bundle: Path):
    _run("ingest", str(contract_bundle))
    code, out, _ = _run("status", "--json")
    status = json.loads(out)
    assert code == 0 and status["rows"]["check_ins"] == 5
    assert status["quarantine"]["open"] == 17
    assert status["quarantine"]["by_reason"]["unknown_reference"] == 4
    assert status["last_runs"][0]["status"] == "completed"

    code, out, _ = _run("quarantine", "list", "--reason", "invalid_enum", "--json")
    rows = json.loads(out)
    assert code == 0 and len(rows) == 3 and {r["reason"] for r in rows} == {"invalid_enum"}
    assert all(r["raw"] and r["source"] for r in rows)

    code, out, _ = _run("quarantine", "retry", "--json")
    assert code == 0 and json.loads(out)["totals"]["stored"] == 0

    code, out, _ = _run("quarantine", "list")
    assert code == 0 and "unknown_reference" in out


def test_key_results_command(contract_bundle: Path):
    _run("ingest", str(contract_bundle))
    code, out, _ = _run("key-results", "--as-of", "2026-04-15", "--state", "closed", "--json")
    rows = {r["key_result_id"]: r for r in json.loads(out)}
    assert code == 0 and set(rows) == {"KR-1", "KR-2", "KR-3"}
    assert rows["KR-2"]["outcome"] == "missed" and rows["KR-2"]["score"] == 0.5
    code, _, err = _run("key-results", "--as-of", "someday")
    assert code == 1 and "someday" in err


def test_config_show_json(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OKR_WAREHOUSE__URL", "postgresql+psycopg://app:s3cret@db/okr")
    code, out, _ = _run("config", "show", "--json")
    assert code == 0 and "s3cret" not in out
    assert json.loads(out)["warehouse"]["url"].endswith("@db/okr")


@pytest.mark.parametrize(
    "make_path",
    [
        lambda tmp: tmp / "missing",
        lambda tmp: (tmp / "empty-dir").mkdir() or tmp / "empty-dir",
    ],
)
def test_unusable_paths_exit_non_zero_without_traceback(tmp_path: Path, make_path):
    path = make_path(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "okr_pipeline", "ingest", str(path), "--json"],
        capture_output=True,
        text=True,
        env=os.environ.copy(),
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("Error: ") and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_bad_config_exits_non_zero_naming_the_key(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OKR_API__PORT", "eighty")
    code, _, err = _run("status")
    assert code == 1 and "api.port" in err


def test_a_broken_bundle_still_ingests_what_it_can(tmp_path: Path):
    bundle = tmp_path / "b"
    bundle.mkdir()
    (bundle / "objectives.csv").write_bytes(
        b"objective_id,title,period_start,period_end\nO-1,Gr\xf6w,2026-01-01,2026-03-31\n"
        b"O-2,Fine,2026-01-01,2026-03-31\nO-3,Ragged\n"
    )
    (bundle / "plan_tasks.json").write_text("{oops")
    (bundle / "check_ins.jsonl").write_text("")
    code, out, _ = _run("ingest", str(bundle), "--json")
    report = json.loads(out)
    assert code == 0
    assert report["entities"]["objectives"] == {
        "read": 3,
        "stored": 1,
        "unchanged": 0,
        "quarantined": 2,
        "by_reason": {"invalid_encoding": 1, "malformed_row": 1},
    }
    assert report["entities"]["tasks"]["by_reason"] == {"malformed_row": 1}
    assert any("empty file" in w for w in report["warnings"])


def test_up_fills_an_empty_warehouse_once(tmp_path: Path):
    code, out, err = _run("up", "--once", "--json")
    first = json.loads(out)
    assert code == 0 and "generating demo data" in err
    assert first["ingest"]["totals"]["stored"] > 10_000
    assert first["ingest"]["totals"]["quarantined"] > 0  # the demo data is messy on purpose
    assert first["key_results"]["open"] > 0 and first["key_results"]["missed"] > 0
    assert first["training"]["alias"] == "champion"
    scored = sum(first["key_results"]["by_status"].values())
    assert 0 < scored <= first["key_results"]["open"]  # open ones of cancelled objectives: none
    assert len(first["highest_risk"]) == 5
    code, out, _ = _run("up", "--once", "--json")
    second = json.loads(out)
    assert code == 0 and "ingest" not in second and "training" not in second
    assert second["status"]["rows"] == first["status"]["rows"]

    # live activity through the stream: stored once, and the touched key results re-scored
    code, out, _ = _run("simulate", "--count", "40", "--rate", "1000", "--json")
    assert code == 0 and json.loads(out)["published"] == 40
    code, out, _ = _run("consume", "--until-idle", "1", "--json")
    consumed = json.loads(out)
    assert code == 0 and consumed["consumed"] == consumed["stored"] == 40
    assert consumed["rescored"] > 0 and consumed["live_scores"] == "on"


def test_consume_without_a_champion_stores_and_says_live_scores_are_off(contract_bundle: Path):
    code, out, _ = _run("produce", "--from", str(contract_bundle), "--json")
    assert code == 0 and json.loads(out)["published"] > 0
    code, out, _ = _run("consume", "--until-idle", "1", "--json")
    consumed = json.loads(out)
    assert code == 0 and consumed["stored"] > 0 and consumed["rescored"] == 0
    assert consumed["live_scores"].startswith("off: no champion model yet")
    code, out, _ = _run("consume", "--until-idle", "0.2", "--no-rescore", "--json")
    assert code == 0 and json.loads(out)["live_scores"] == "not asked"


def test_generate_writes_a_bundle_that_ingests(tmp_path: Path):
    code, out, _ = _run(
        "generate",
        "--out",
        str(tmp_path / "b"),
        "--seed",
        "2",
        "--scale",
        "0.05",
        "--messy",
        "--as-of",
        "2026-05-01",
        "--json",
    )
    manifest = json.loads(out)
    assert code == 0 and manifest["out"] == str(tmp_path / "b")
    code, out, _ = _run("ingest", str(tmp_path / "b"), "--json")
    assert json.loads(out)["entities"] == manifest["expected"]
