"""Feature rows from outside, checked against a model's MLflow signature (the input schema that
`mlflow models serve` enforces) and made into the columns the model scores (arrays by name: a
server builds no DataFrame per request, see RiskModel.predict_proba_columns).

MLflow's scoring server takes a DataFrame as `dataframe_records` (one object per row) or
`dataframe_split` (`columns` and `data`); both are read here. The checks are the signature's,
told per row and column rather than as one message about the whole frame:

- a column the signature requires must be there; an optional one may be left out (it is then
  missing in every row: MLflow would pass the frame on without it and the model would fail);
- a column the signature does not name is refused: MLflow drops it with a warning, and a
  misspelt feature would then be scored as missing without anyone knowing;
- values by type: `double`/`float` a JSON number or null (missing), finite; `long`/`integer`
  a whole number; `boolean` true or false; `string` a string or null.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, DataType

from okr_pipeline.errors import InputError, OkrError

__all__ = ["MAX_PROBLEMS", "Column", "Columns", "InputSchema", "RowProblem", "RowsRejected"]

MAX_PROBLEMS = 100  # problems told at most: a bad request of many rows gets a bounded answer
_ABSENT = object()  # a column left out of a row
_NUMBER = {float, int}

Columns = dict[str, np.ndarray]  # values by column name, one array each, rows in order


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: str  # double, float, long, integer, boolean or string
    required: bool


@dataclass(frozen=True, slots=True)
class RowProblem:
    """What is wrong where: `loc` is the path in the request body (shape, row, column)."""

    loc: tuple[str | int, ...]
    message: str
    type: str


class RowsRejected(InputError):
    """Rows that break the signature: every problem (up to MAX_PROBLEMS) with its place."""

    def __init__(self, problems: list[RowProblem]) -> None:
        self.problems = problems[:MAX_PROBLEMS]
        first = self.problems[0]
        super().__init__(f"{'/'.join(map(str, first.loc))}: {first.message}")


_KINDS = {
    DataType.double: "double",
    DataType.float: "float",
    DataType.long: "long",
    DataType.integer: "integer",
    DataType.boolean: "boolean",
    DataType.string: "string",
}


@dataclass(frozen=True)
class InputSchema:
    """The columns of a model's signature, in order."""

    columns: tuple[Column, ...]

    @classmethod
    def of(cls, signature: ModelSignature | None) -> InputSchema:
        """The input schema of a signature of named columns; anything else is an OkrError (the
        model was not logged as the pipeline logs it)."""
        if signature is None or signature.inputs is None or not signature.inputs.has_input_names():
            raise OkrError("the model has no signature of named columns: it cannot be served")
        columns = []
        for spec in signature.inputs.inputs:
            plain = isinstance(spec, ColSpec) and isinstance(spec.type, DataType)
            kind = _KINDS.get(spec.type) if plain else None
            if kind is None:
                raise OkrError(f"the model's input {spec.name!r} has a type the API does not take")
            columns.append(Column(str(spec.name), kind, bool(spec.required)))
        return cls(tuple(columns))

    @property
    def names(self) -> list[str]:
        return [column.name for column in self.columns]

    def records(self, records: Sequence[Any], where: str) -> Columns:
        """The columns of rows given as objects (`dataframe_records`); RowsRejected if any
        breaks the schema. `where` names the rows in the body for the problems' places."""
        problems: list[RowProblem] = []
        rows: list[dict[str, Any]] = []
        for i, record in enumerate(records):
            if record.__class__ is not dict:
                problems.append(RowProblem((where, i), "a row must be an object", "row_type"))
            else:
                rows.append(record)
        if problems:
            raise RowsRejected(problems)
        known = {column.name for column in self.columns}
        told: set[str] = set()  # an unknown column is told once, at the first row holding it
        for i, row in enumerate(rows):
            for name in sorted(row.keys() - known - told):
                told.add(name)
                problems.append(_unknown((where, i, name)))
        values = {
            column.name: [row.get(column.name, _ABSENT) for row in rows] for column in self.columns
        }
        return self._frame(values, len(rows), lambda i, name: (where, i, name), problems)

    def split(self, columns: Sequence[Any], data: Sequence[Any], where: str) -> Columns:
        """The columns of rows given as `columns` and `data` (`dataframe_split`)."""
        known = {column.name for column in self.columns}
        problems: list[RowProblem] = []
        seen: set[str] = set()
        for j, name in enumerate(columns):
            if name.__class__ is not str:
                problems.append(RowProblem((where, "columns", j), "must be a string", "type"))
                continue
            if name in seen:
                problems.append(RowProblem((where, "columns", j), "a repeated column", "repeat"))
            seen.add(name)
        width = len(columns)
        for i, row in enumerate(data):
            if row.__class__ is not list or len(row) != width:
                message = f"a row must be an array of {width} values, one per column"
                problems.append(RowProblem((where, "data", i), message, "row_type"))
                if len(problems) >= MAX_PROBLEMS:
                    break
        if problems:  # the rows cannot be read by column
            raise RowsRejected(problems)
        for j, name in enumerate(columns):
            if name not in known:
                problems.append(_unknown((where, "columns", j)))
        for column in self.columns:
            if column.required and column.name not in seen:
                message = f"the required column {column.name!r} is missing"
                problems.append(RowProblem((where, "columns"), message, "missing"))
        at = {name: j for j, name in enumerate(columns)}
        values = {
            column.name: [row[at[column.name]] for row in data]
            for column in self.columns
            if column.name in at
        }
        place = lambda i, name: (where, "data", i, name)  # noqa: E731
        return self._frame(values, len(data), place, problems)

    def _frame(
        self, values: dict[str, list[Any]], rows: int, place: Any, problems: list[RowProblem]
    ) -> Columns:
        """The columns' values as arrays for `rows` rows (a column left out: missing in every
        row), or RowsRejected with `problems` found before and those of the values."""
        columns: Columns = {}
        for column in self.columns:
            if len(problems) >= MAX_PROBLEMS:
                break
            if column.name in values:
                columns[column.name] = _column(column, values[column.name], place, problems)
            elif not column.required:  # told already if it is required (split)
                columns[column.name] = np.full(rows, math.nan if _numeric(column) else None)
        if problems:
            raise RowsRejected(problems)
        return columns

    def frame(self, columns: Columns) -> pd.DataFrame:
        """The columns as a DataFrame in the schema's order, text as object (as the feature
        table holds it): what MLflow's pyfunc would hand the model."""
        frame = pd.DataFrame(columns, columns=self.names)
        for column in self.columns:
            if column.kind == "string":
                frame[column.name] = frame[column.name].astype("object")
        return frame


def _numeric(column: Column) -> bool:
    return column.kind in ("double", "float")


def _unknown(loc: tuple[str | int, ...]) -> RowProblem:
    return RowProblem(loc, "not a column of the model's signature", "unknown_column")


def _column(column: Column, values: list[Any], place: Any, problems: list[RowProblem]) -> Any:
    """The column's values as the model takes them, or None with its problems added."""
    fast = _at_once(column.kind, values)
    if fast is not None:
        return fast
    numeric = _numeric(column)
    check = _CHECKS[column.kind]
    before = len(problems)
    out: list[Any] = []
    for i, value in enumerate(values):
        if value is _ABSENT:
            if column.required:
                problems.append(RowProblem(place(i, column.name), "required", "missing"))
            value = None  # an optional column left out of this row: missing there
        elif (message := check(value)) is not None:
            problems.append(RowProblem(place(i, column.name), message, "type"))
        if len(problems) >= MAX_PROBLEMS:
            break
        out.append(math.nan if numeric and value is None else value)
    if len(problems) > before:
        return None
    if numeric:
        return np.array(out, dtype=float)
    return np.array(out, dtype=object if None in out or column.kind == "string" else None)


def _at_once(kind: str, values: list[Any]) -> Any:
    """The column as an array when every value is what it should be (the common case, checked
    for the whole column at once); None to look at each value."""
    kinds = set(map(type, values))
    if kind in ("double", "float"):
        if not kinds <= _NUMBER | {type(None)}:
            return None
        try:
            array = np.array([math.nan if v is None else v for v in values], dtype=float)
        except OverflowError:  # an integer beyond any float
            return None
        given = array[[v is not None for v in values]] if type(None) in kinds else array
        return array if np.isfinite(given).all() else None
    if kind in ("long", "integer"):
        if not kinds <= {int}:
            return None
        try:
            return np.array(values, dtype=np.int64 if kind == "long" else np.int32)
        except OverflowError:
            return None
    if kind == "boolean":
        return np.array(values, dtype=bool) if kinds <= {bool} else None
    return np.array(values, dtype=object) if kinds <= {str, type(None)} else None


def _number(value: Any) -> str | None:
    if value is None:
        return None
    if value.__class__ not in _NUMBER:
        return "must be a number or null"
    try:
        finite = math.isfinite(cast(float, value))
    except OverflowError:  # an integer beyond any float
        finite = False
    return None if finite else "must be a finite number"


def _whole(value: Any) -> str | None:
    if value.__class__ is not int:
        return "must be a whole number"
    return None if -(2**63) <= value < 2**63 else "out of range"


def _boolean(value: Any) -> str | None:
    return None if value.__class__ is bool else "must be true or false"


def _string(value: Any) -> str | None:
    return None if value is None or value.__class__ is str else "must be a string or null"


_CHECKS = {
    "double": _number,
    "float": _number,
    "long": _whole,
    "integer": _whole,
    "boolean": _boolean,
    "string": _string,
}
