"""The ETL pipeline's tasks: extract -> validate -> load -> check.

Bundles (a folder or a single file) are dropped in the landing folder `raw/incoming/` of the
data directory. Extract claims each one by moving it into the run's staging folder
(`processed/<run id>/`), with what earlier runs claimed and never loaded (they failed or were
stopped); pulls the OKR backend's REST API, if configured, into a bundle there too; and drains
the event stream up to its current end, then prunes it (`stream.retention`), unless a consumer
of the group runs (it then has the stream, and prunes it itself). Load moves each bundle to
`archive/<run id>/` and ingests it from there, so the quarantine names where its rows now are;
one that cannot be read at all moves to `archive/failed/` with a file saying why; the REST
source's cursors advance once its bundle is stored. Check fails the run if a count does not
reconcile, or if the REST pull stopped part-way (what it pulled is kept). Runs of the pipeline
never overlap, so one run's folders are no other's.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.errors import InputError, OkrError, SourceError
from okr_pipeline.ingest import commit_cursors, pull_rest_bundle
from okr_pipeline.jobs.data import ingest_path
from okr_pipeline.jobs.pipelines import Output, RunContext
from okr_pipeline.jobs.stream import drain_events, prune_stream
from okr_pipeline.sources import Pulled, PullError, discover
from okr_pipeline.warehouse import open_warehouse

__all__ = [
    "IncompletePullError",
    "ReconciliationError",
    "check",
    "extract",
    "landing_folder",
    "load",
    "validate",
]

FAILED = "failed"  # archive/failed/: bundles that could not be read, each with why
REST = ".rest"  # the REST source's bundle in the staging folder: no landed name starts with "."
REST_ARCHIVED = "rest"


class ReconciliationError(OkrError):
    """A run's counts do not add up: something was lost or counted twice."""

    retry = False


class IncompletePullError(SourceError):
    """The REST pull stopped part-way; what it pulled is stored. The next run pulls the rest."""

    retry = False


def landing_folder(settings: Settings) -> Path:
    return settings.path("raw") / "incoming"


def extract(settings: Settings, run: RunContext, inputs: Mapping[str, Output]) -> Output:
    """Claim the bundles in the landing folder (and those earlier runs left), pull the REST
    source, and drain and prune the event stream."""
    staging = settings.path("processed") / run.run_id
    _reclaim(settings.path("processed"), staging)
    for entry in _visible(landing_folder(settings)):
        _move(entry, staging)
    rest = _pull_rest(settings, staging / REST) if settings.rest.base_url else None
    bundles = [str(entry) for entry in _visible(staging)]
    if rest and rest["rows"]:
        bundles.append(rest["folder"])
    drained = drain_events(settings)
    skipped = {"skipped": "a consumer of the group runs"}
    return {
        "bundles": bundles,
        "rest": rest,
        "stream": drained.as_dict() if drained else skipped,
        "retention": prune_stream(settings).as_dict() if drained else skipped,
    }


def _reclaim(processed: Path, staging: Path) -> None:
    """Bundles that earlier runs claimed and never loaded, moved into `staging`; an unloaded REST
    pull is dropped (the next pull starts from the same cursors)."""
    if not processed.is_dir():
        return
    for folder in processed.iterdir():
        if folder == staging or not folder.is_dir():
            continue
        for entry in folder.iterdir():
            if entry.name == REST:
                shutil.rmtree(entry)
            else:
                _move(entry, staging)
        folder.rmdir()
    rest = staging / REST
    if rest.exists():  # this run's earlier attempt at extract
        shutil.rmtree(rest)


def _visible(folder: Path) -> list[Path]:
    """What lies in `folder`, oldest first; names starting with a dot are being written (write
    `.name`, then rename it) and wait for the next run."""
    if not folder.is_dir():
        return []
    entries = [entry for entry in folder.iterdir() if not entry.name.startswith(".")]
    return sorted(entries, key=lambda entry: (entry.lstat().st_mtime, entry.name))


def _pull_rest(settings: Settings, folder: Path) -> Output:
    """The REST source pulled into `folder`: what it wrote, the cursors to commit once that is
    stored, and the error that stopped it part-way (if one did)."""
    error = None
    try:
        pulled = pull_rest_bundle(settings, open_warehouse(settings), folder)
    except PullError as exc:
        pulled, error = exc.pulled, str(exc)
    return {
        "folder": str(folder),
        "source": pulled.source,
        "pulled_at": pulled.pulled_at.isoformat(),
        "rows": pulled.rows,
        "cursors": pulled.cursors,
        "error": error,
    }


def validate(settings: Settings, run: RunContext, inputs: Mapping[str, Output]) -> Output:
    """Keep the bundles that hold files the contract knows; the others go to the failed archive
    (their rows are validated as they load)."""
    readable, failed = [], []
    for bundle in map(Path, inputs["extract"]["bundles"]):
        try:
            discover(bundle)
        except InputError as exc:
            failed.append(_fail(settings, run, bundle, str(exc)))
        else:
            readable.append(str(bundle))
    return {"bundles": readable, "failed": failed}


def load(settings: Settings, run: RunContext, inputs: Mapping[str, Output]) -> Output:
    """Archive each readable bundle and ingest it from the archive. Run again after a failure,
    it ingests those already archived again, which changes nothing (their rows are unchanged)."""
    archive = settings.path("archive") / run.run_id
    rest = inputs["extract"]["rest"]
    loaded, failed = [], list(inputs["validate"]["failed"])
    for staged in map(Path, inputs["validate"]["bundles"]):
        name = REST_ARCHIVED if staged.name == REST else staged.name
        bundle = _move(staged, archive, name) if staged.exists() else archive / name
        if not bundle.exists():  # an earlier attempt found it unreadable: it is in failed/
            continue
        try:
            report = ingest_path(settings, bundle)
        except InputError as exc:  # unreadable after all (e.g. a file it holds is not)
            failed.append(_fail(settings, run, bundle, str(exc)))
            continue
        loaded.append({"bundle": name, "archived": str(bundle), **report.as_dict()})
        if staged.name == REST:
            _commit_cursors(settings, rest)
    staging = settings.path("processed") / run.run_id
    if staging.is_dir() and not any(staging.iterdir()):
        staging.rmdir()
    return {
        "loaded": loaded,
        "failed": failed,
        "rest_error": rest and rest["error"],
        "stream": inputs["extract"]["stream"],
    }


def _commit_cursors(settings: Settings, rest: Output) -> None:
    pulled = Pulled(
        rest["source"],
        Path(rest["folder"]),
        datetime.fromisoformat(rest["pulled_at"]),
        rest["rows"],
        rest["cursors"],
    )
    commit_cursors(open_warehouse(settings), pulled)


def check(settings: Settings, run: RunContext, inputs: Mapping[str, Output]) -> Output:
    """Every count reconciles: read = stored + unchanged + quarantined per entity and bundle,
    and for the stream consumed = stored + duplicates + dead-lettered."""
    problems = []
    for report in inputs["load"]["loaded"]:
        for entity, counts in report["entities"].items():
            if counts["read"] != counts["stored"] + counts["unchanged"] + counts["quarantined"]:
                problems.append(f"{report['bundle']} {entity}: {_counts(counts)}")
    stream = inputs["load"]["stream"]
    if "consumed" in stream and stream["consumed"] != (
        stream["stored"] + stream["duplicates"] + stream["dead_lettered"]
    ):
        problems.append(f"stream: {_counts(stream)}")
    if problems:
        raise ReconciliationError("counts do not reconcile: " + "; ".join(problems))
    if inputs["load"]["rest_error"]:
        raise IncompletePullError(
            f"the REST source stopped part-way (what it pulled is stored): "
            f"{inputs['load']['rest_error']}"
        )
    loaded = inputs["load"]["loaded"]
    return {
        "bundles": len(loaded),
        "failed": len(inputs["load"]["failed"]),
        "rows_read": sum(report["totals"]["read"] for report in loaded),
        "events_consumed": stream.get("consumed", 0),
        "reconciled": True,
    }


def _counts(counts: Mapping[str, Any]) -> str:
    return ", ".join(f"{key} {value}" for key, value in counts.items() if isinstance(value, int))


def _move(entry: Path, folder: Path, name: str | None = None) -> Path:
    """`entry` moved into `folder` (made if missing) as `name` (its own by default); a name
    taken there gets a number, so nothing is overwritten."""
    folder.mkdir(parents=True, exist_ok=True)
    name = name or entry.name
    target = folder / name
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{name}.{n}"
    shutil.move(entry, target)  # a rename on one file system: atomic
    return target


def _fail(settings: Settings, run: RunContext, bundle: Path, why: str) -> dict[str, str]:
    failed = settings.path("archive") / FAILED
    moved = _move(bundle, failed) if bundle.exists() else bundle
    reason = moved.with_name(moved.name + ".why.txt")
    reason.write_text(f"run {run.run_id}: {why}\n", encoding="utf-8")
    return {"bundle": bundle.name, "archived": str(moved), "reason": why}
