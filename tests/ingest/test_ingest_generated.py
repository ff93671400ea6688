"""End-to-end ingestion of generated bundles: exact reconciliation with what the generator
injected, idempotence, and property tests that ingestion never fails and always reconciles."""

from __future__ import annotations

import json
import string
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, func, select

from okr_pipeline.contract.raw import RawRecord
from okr_pipeline.contract.rules import ENTITIES, REASONS
from okr_pipeline.ingest.store import ingest
from okr_pipeline.sources.files import read_path
from okr_pipeline.sources.synthetic import generate_bundle
from okr_pipeline.warehouse.engine import create_warehouse_engine, migrate
from okr_pipeline.warehouse.tables import ENTITY_TABLES, quarantine


@pytest.fixture(scope="module")
def messy_bundle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("messy")
    manifest = generate_bundle(out, seed=3, scale=0.15, messy=True, as_of=date(2026, 5, 20))
    return out, manifest


def _report(engine: Engine, path: Path) -> dict:
    bundle = read_path(path)
    return ingest(engine, bundle.records, source=str(path), warnings=bundle.warnings).as_dict()


def test_messy_bundle_reconciles_exactly(warehouse: Engine, messy_bundle):
    path, manifest = messy_bundle
    report = _report(warehouse, path)
    assert report["entities"] == manifest["expected"]
    assert set(report["totals"]["by_reason"]) >= {
        "missing_field",
        "invalid_number",
        "invalid_date",
        "invalid_timestamp",
        "invalid_enum",
        "out_of_range",
        "period_order",
        "target_equals_start",
        "unknown_reference",
    }
    with warehouse.connect() as conn:
        for name, expected in manifest["expected"].items():
            stored = conn.execute(select(func.count()).select_from(ENTITY_TABLES[name]))
            assert stored.scalar_one() == expected["stored"]
        bad = conn.execute(select(func.count()).select_from(quarantine)).scalar_one()
    assert bad <= report["totals"]["quarantined"]  # identical bad rows are kept once

    again = _report(warehouse, path)
    for name, counts in again["entities"].items():
        assert counts["stored"] == 0
        assert counts["quarantined"] == manifest["expected"][name]["quarantined"]


def test_small_chunks_end_as_the_whole(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, messy_bundle
):
    """Chunk by chunk (repeats of an id held together) gives the same report and rows."""
    path, manifest = messy_bundle
    monkeypatch.setattr("okr_pipeline.ingest.store.CHUNK_ROWS", 7)
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    assert _report(engine, path)["entities"] == manifest["expected"]
    assert _report(engine, path)["totals"]["stored"] == 0


def test_generated_bundle_is_order_independent(tmp_path: Path, messy_bundle):
    """Rows reversed within every file, and children handed over before parents."""
    path, manifest = messy_bundle
    bundle = read_path(path)
    reversed_records = {
        name: list(reversed(rows)) for name, rows in reversed(list(bundle.records.items()))
    }
    engine = create_warehouse_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(engine)
    report = ingest(engine, reversed_records, source="reversed").as_dict()
    assert report["entities"] == manifest["expected"]


_cell = st.one_of(
    st.none(),
    st.text(alphabet=string.printable + "éሽ\u2028\x00", max_size=12),
    st.sampled_from(
        [
            "O-1",
            "O-2",
            "KR-1",
            "KR-2",
            "2026-01-01",
            "2026-03-31",
            "2026-02-30",
            "2026-01-05T10:00:00+02:00",
            "active",
            "Done",
            "number",
            "5",
            "-1",
            "0",
            "11",
            "1e2",
            "N/A",
            "",
        ]
    ),
    st.integers(-5, 20),
    st.floats(allow_nan=True, allow_infinity=True),
)


@st.composite
def _records(draw: st.DrawFn) -> dict[str, list[RawRecord]]:
    records: dict[str, list[RawRecord]] = {}
    for name, spec in ENTITIES.items():
        rows = []
        for line in range(draw(st.integers(0, 6))):
            fields = {f: draw(_cell) for f in spec.field_names if draw(st.booleans())}
            fields[spec.key] = draw(st.sampled_from(["A", "B", "O-1", "KR-1", " ", None]))
            rows.append(
                RawRecord(name, fields, "generated", line + 1, json.dumps(fields, default=str))
            )
        records[name] = rows
    return records


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batches=st.lists(_records(), min_size=1, max_size=3))
def test_ingest_never_fails_and_always_reconciles(warehouse: Engine, batches):
    """On both dialects; the warehouse keeps what earlier examples stored, as a real one would."""
    engine = warehouse
    for records in batches:
        report = ingest(engine, records, source="generated").as_dict()
        for name, counts in report["entities"].items():
            assert counts["read"] == len(records[name])
            assert counts["read"] == counts["stored"] + counts["unchanged"] + counts["quarantined"]
            assert set(counts["by_reason"]) <= set(REASONS)
        again = ingest(engine, records, source="generated").as_dict()
        assert again["totals"]["stored"] == 0
