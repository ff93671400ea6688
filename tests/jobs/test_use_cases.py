"""The application layer used without the CLI: the use cases the scheduler, Airflow and the API
call, one warehouse engine per process, and live scores that never hold up the consumer."""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from okr_pipeline import config, jobs
from okr_pipeline.cli import main
from okr_pipeline.config import Settings
from okr_pipeline.warehouse import ENTITY_TABLES, engine, open_warehouse


def test_use_cases_ingest_and_report_without_a_cli(settings: Settings, contract_bundle: Path):
    report = jobs.ingest_path(settings, contract_bundle)
    status = jobs.status(settings)
    assert status["rows"]["key_results"] == report.entities["key_results"].stored == 4
    assert status["quarantine"]["open"] == report.totals.quarantined
    rows = jobs.quarantined_rows(settings, reason="unknown_reference")
    assert len(rows) == 4 and {r["reason"] for r in rows} == {"unknown_reference"}
    assert jobs.retry_quarantined(settings).totals.stored == 0  # no parent has arrived since
    states = jobs.key_results(settings, datetime(2026, 4, 15), state="closed")
    assert {s.key_result_id: s.outcome for s in states}["KR-1"] == "achieved"


def test_one_engine_per_process_migrated_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    migrations: list[object] = []
    real_migrate = engine.migrate
    monkeypatch.setattr(engine, "migrate", lambda e: migrations.append(e) or real_migrate(e))
    first = open_warehouse(settings)
    assert open_warehouse(settings.model_copy()) is first
    assert migrations == [first]
    engine.close_warehouses()  # a new process, in effect: a new engine, migrated again
    assert open_warehouse(settings) is not first and len(migrations) == 2


def test_a_command_loads_the_settings_once(
    contract_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    loads: list[int] = []
    real_load = config.load_settings
    monkeypatch.setattr(config, "load_settings", lambda: loads.append(1) or real_load())
    result = CliRunner().invoke(main, ["ingest", str(contract_bundle), "--json"])
    assert result.exit_code == 0, result.output
    assert len(loads) == 1


def test_consume_stores_events_while_the_champion_is_still_looked_for(
    settings: Settings, contract_bundle: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The registry answers only once the events are stored: the consumer did not wait."""
    import okr_pipeline.model

    answer = threading.Event()

    class SlowEmptyRegistry:
        def version(self, alias: str) -> None:
            answer.wait(60)
            return None

    monkeypatch.setattr(okr_pipeline.model, "open_registry", lambda _: SlowEmptyRegistry())
    settings.default_tracking_store.parent.mkdir(parents=True, exist_ok=True)
    settings.default_tracking_store.touch()  # a store to look in (without one: no champion)
    published = jobs.produce_events(settings, contract_bundle).published
    notes: list[str] = []
    done: list[jobs.Consumed] = []
    consumer = threading.Thread(
        target=lambda: done.append(
            jobs.consume_events(settings, until_idle=0.5, notify=notes.append)
        )
    )
    consumer.start()
    try:
        stored = 0
        deadline = time.monotonic() + 60
        while stored == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
            with open_warehouse(settings).connect() as conn:
                table = ENTITY_TABLES["objectives"]
                stored = conn.execute(select(func.count()).select_from(table)).scalar_one()
        assert stored > 0 and not answer.is_set() and not done
    finally:
        answer.set()
        consumer.join(60)
    consumed = done[0].as_dict()
    assert consumed["stored"] > 0 and consumed["consumed"] + consumed["parked"] <= published
    assert consumed["live_scores"].startswith("off: no champion model yet")
    assert notes == [f"live scores are off for this run: {consumed['live_scores'][5:]}"]


def test_the_application_layer_exports_what_its_modules_define() -> None:
    import importlib
    import pkgutil

    modules = jobs._MODULE_OF
    # importing a submodule binds its name on the package: a use case named like one of them
    # would turn into that module once it is imported (`jobs.monitor` did)
    submodules = {module.name for module in pkgutil.iter_modules(jobs.__path__)}
    assert not submodules & set(modules)
    assert sorted(modules) == sorted(jobs.__all__)
    for name, module in modules.items():
        defined = getattr(importlib.import_module(f"okr_pipeline.jobs.{module}"), name)
        assert getattr(jobs, name) is defined
