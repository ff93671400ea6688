"""Ingesting export files: load them, parse and validate them, store them (`okr ingest`).

A large bundle is shared out, where child processes can be forked, so that both CPUs work while
this process stores (SQLite takes its writes from one process): check-ins and tasks, the bulk of
any bundle, are each parsed and validated by a child of their own, started at once; this process
does the rest first (the milestones ahead of their turn, while the children still parse), then
stores the children's chunks as they come. A small bundle is done here, entity by entity.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path

from sqlalchemy import Engine

from okr_pipeline.config import Limits
from okr_pipeline.contract import DEFAULT_LIMITS, ENTITY_ORDER, Validated
from okr_pipeline.core import gc_paused
from okr_pipeline.ingest import store as ingest
from okr_pipeline.ingest._forked_parser import ChildChunks, can_fork
from okr_pipeline.ingest.chunks import FileWarnings, validated_chunks, with_file_warnings
from okr_pipeline.ingest.store import IngestReport, ingest_validated
from okr_pipeline.sources import LoadedBundle, load_bundle

__all__ = ["ingest_loaded", "ingest_path"]

PARALLEL_BYTES = 4 << 20  # from this much input on, child processes parse and validate
# The child whose chunks are stored last runs at this lower priority: it then takes the CPU left
# idle (while this process waits for the first child, or after that child is done) instead of
# slowing the first child, whose chunks are wanted first.
LATER_NICE = 10


def ingest_path(
    engine: Engine,
    path: Path,
    *,
    progress: Callable[[int], None] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> IngestReport:
    """Read, validate and store a bundle directory or one entity file (`okr ingest`)."""
    return ingest_loaded(engine, load_bundle(path), progress=progress, limits=limits)


def ingest_loaded(
    engine: Engine,
    bundle: LoadedBundle,
    *,
    progress: Callable[[int], None] | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> IngestReport:
    """Validate and store a loaded bundle in one transaction (see the module's doc); rows
    beyond the limits are quarantined."""
    warnings: FileWarnings = {}

    def chunks(entities: Sequence[str], warnings: FileWarnings = warnings) -> Iterator[Validated]:
        return validated_chunks(bundle.files, ingest.CHUNK_ROWS, entities, warnings, limits)

    def shared_out(
        check_ins: Iterable[Validated], tasks: Iterable[Validated]
    ) -> Iterator[Validated]:
        # in ENTITY_ORDER; the milestones are made ahead of their turn, while the children parse
        yield from chunks(["objectives", "key_results"])
        milestones = list(chunks(["milestones"]))
        yield from check_ins
        yield from milestones
        yield from tasks

    def store(validated: Iterable[Validated]) -> IngestReport:
        return ingest_validated(
            engine,
            with_file_warnings(validated, warnings),
            source=bundle.source,
            warnings=bundle.warnings,
            progress=progress,
        )

    def make(entities: Sequence[str]) -> Callable[[FileWarnings], Iterator[Validated]]:
        return lambda warnings: chunks(entities, warnings)

    size = sum(len(file.data) for file in bundle.files)
    as_text = engine.dialect.name == "sqlite"  # the chunks' dates as SQLite stores them
    with gc_paused():
        if size < PARALLEL_BYTES or not can_fork():
            return store(chunks(ENTITY_ORDER))
        with (
            ChildChunks(make(["check_ins"]), warnings, dates_as_text=as_text) as check_ins,
            ChildChunks(make(["tasks"]), warnings, nice=LATER_NICE, dates_as_text=as_text) as tasks,
        ):
            return store(shared_out(check_ins, tasks))
