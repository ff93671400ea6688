"""Raw rows, what validation works on: one row with where it came from (`RawRecord`, `Origin`),
and the rows of one entity as read, column by column (`RawBatch`).

Readers hand over each contract field as a list of raw values, without a dict or a RawRecord per
row: at hundreds of thousands of rows those cost more than the validation itself. A row's
RawRecord, the per-row view, is made only for the rows that need it (the rejected ones).
A reader whose rows come as dicts (JSON Lines) hands over RowColumns: each chunk's columns are
made from its own rows when validation asks for them, so that the first chunk of a large file
is ready without transposing the whole file first.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate, chain, repeat
from operator import itemgetter
from typing import Any, NamedTuple

from okr_pipeline.contract.rules import ENTITIES

__all__ = ["Origin", "RawBatch", "RawRecord", "RowColumns"]


@dataclass(slots=True)
class RawRecord:
    """One row as read. `fields` is None when the input could not be read as a row at all; then
    `problem` holds (reason, message) and the row goes straight to quarantine."""

    entity: str
    fields: dict[str, Any] | None
    source: str  # file path or topic
    line: int | None  # first line in the file; None where lines mean nothing
    raw: str  # the original content
    problem: tuple[str, str] | None = None
    quarantine_id: int | None = None  # set when the row is retried from the quarantine


class Origin(NamedTuple):
    """Where a row came from. A tuple, as there is one per row."""

    source: str  # file path or topic
    line: int | None  # first line in the file; None where lines mean nothing
    raw: str  # the original content
    quarantine_id: int | None = None  # set when the row is retried from the quarantine


def _pick(values: list[Any], rows: Sequence[int]) -> list[Any]:
    """values[i] for each i in rows, without a Python step per row."""
    if isinstance(rows, range) and rows.step == 1:
        return values[rows.start : rows.stop]
    if len(rows) < 2:  # itemgetter of one index gives the item itself
        return [values[i] for i in rows]
    return list(itemgetter(*rows)(values))


class RowColumns(Mapping[str, list[Any]]):
    """The columns `names` of rows held as dicts, each column made when first asked for."""

    def __init__(self, rows: list[dict[str, Any]], names: Sequence[str]) -> None:
        self.rows = rows
        self._names = names
        self._made: dict[str, list[Any]] = {}

    def __getitem__(self, name: str) -> list[Any]:
        column = self._made.get(name)
        if column is None:
            if name not in self._names:
                raise KeyError(name)
            column = self._made[name] = list(map(dict.get, self.rows, repeat(name)))
        return column

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


@dataclass(eq=False)
class RawBatch:
    """Rows of one entity.

    `columns` holds every field of the entity's contract, one raw value per row (None where the
    row has no such field, or no fields at all); `origins` where each row came from; `problems`
    the rows that could not be read as rows, with (reason, message); `record_of(i)` row i as a
    RawRecord, unknown fields included, for the quarantine.
    """

    entity: str
    columns: Mapping[str, list[Any]]
    origins: list[Origin]
    record_of: Callable[[int], RawRecord]
    problems: dict[int, tuple[str, str]] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.origins)

    def records(self) -> list[RawRecord]:
        return [self.record_of(i) for i in range(len(self))]

    @classmethod
    def empty(cls, entity: str) -> RawBatch:
        return cls.from_records(entity, [])

    @classmethod
    def from_records(cls, entity: str, records: Sequence[RawRecord]) -> RawBatch:
        """The records as columns; `record_of` gives back the records themselves."""
        fields = [record.fields or {} for record in records]
        return cls(
            entity,
            {name: [f.get(name) for f in fields] for name in ENTITIES[entity].field_names},
            [Origin(r.source, r.line, r.raw, r.quarantine_id) for r in records],
            records.__getitem__,
            {i: r.problem for i, r in enumerate(records) if r.problem is not None},
        )

    def take(self, rows: Sequence[int]) -> RawBatch:
        """The given rows, in that order."""
        columns: Mapping[str, list[Any]]
        if isinstance(self.columns, RowColumns):  # one pick of the rows, not one per column
            columns = RowColumns(_pick(self.columns.rows, rows), list(self.columns))
        else:
            columns = {name: _pick(values, rows) for name, values in self.columns.items()}
        origins = _pick(self.origins, rows)
        problems = self.problems
        record_of = self.record_of
        return RawBatch(
            self.entity,
            columns,
            origins,
            lambda i: record_of(rows[i]),
            {new: problems[old] for new, old in enumerate(rows) if old in problems}
            if problems
            else {},
        )

    @classmethod
    def concat(cls, entity: str, batches: Sequence[RawBatch]) -> RawBatch:
        """One batch of all rows of the given ones, in order."""
        if len(batches) == 1:
            return batches[0]
        if not batches:
            return cls.empty(entity)
        starts = [0, *accumulate(len(batch) for batch in batches)][:-1]

        def record_of(i: int) -> RawRecord:
            part = bisect_right(starts, i) - 1
            return batches[part].record_of(i - starts[part])

        return cls(
            entity,
            {
                name: list(chain.from_iterable(batch.columns[name] for batch in batches))
                for name in batches[0].columns
            },
            list(chain.from_iterable(batch.origins for batch in batches)),
            record_of,
            {
                start + i: problem
                for start, batch in zip(starts, batches)
                for i, problem in batch.problems.items()
            },
        )
