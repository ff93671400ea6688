"""A loaded bundle as a stream of validated chunks, entity by entity, parents first.

Each entity's files are parsed only when its turn comes, so the first chunks are ready (and can
be stored) long before the last file is parsed. The stream needs no database: part of it can be
made in another process (_forked_parser.py).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from okr_pipeline.config import Limits
from okr_pipeline.contract import (
    DEFAULT_LIMITS,
    ENTITY_ORDER,
    RawBatch,
    Validated,
    chunked_batch,
    validate_rows,
)
from okr_pipeline.sources import LoadedFile, parse_file

__all__ = ["FileWarnings", "validated_chunks", "with_file_warnings"]

# Warnings about the files, by the file's position in the bundle.
FileWarnings = dict[int, list[str]]


def validated_chunks(
    files: list[LoadedFile],
    chunk_rows: int,
    entities: Sequence[str] = ENTITY_ORDER,
    warnings: FileWarnings | None = None,
    limits: Limits = DEFAULT_LIMITS,
) -> Iterator[Validated]:
    """The rows of the given entities' files, validated in chunks of about `chunk_rows` (see
    `chunked_batch`), entity after entity. The warnings about a file go into `warnings` when
    it is parsed: all of them before the first chunk of the last entity is made."""
    for entity in entities:
        parts = []
        for index, file in enumerate(files):
            if file.entity == entity:
                batch, file_warnings = parse_file(file, limits)
                if warnings is not None:
                    warnings[index] = file_warnings
                if batch is not None:
                    parts.append(batch)
        for chunk in chunked_batch(RawBatch.concat(entity, parts), chunk_rows):
            yield validate_rows(chunk)


def with_file_warnings(chunks: Iterable[Validated], warnings: FileWarnings) -> Iterator[Validated]:
    """The chunks; the first of the last entity carries the warnings about the files, in file
    order (as `read_files` gives them). By then every file has been parsed."""
    pending = True
    for chunk in chunks:
        if pending and chunk.entity == ENTITY_ORDER[-1]:
            chunk.warnings = [w for index in sorted(warnings) for w in warnings[index]]
            pending = False
        yield chunk
