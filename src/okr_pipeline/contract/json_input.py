"""JSON from outside (files, events), read within the configured limits (config.Limits).

Hostile JSON breaks the standard parser in ways no caller expects: a few thousand levels of
nesting exhaust the recursion limit, an integer of more than 4,300 digits is a ValueError, and a
lone surrogate escape (`"\\ud800"`) gives a str that cannot be encoded, so no database driver
takes it. Here each of these is an `Unacceptable` with the reason to reject the input under.
The checks cost nothing on common input: depth is measured only where the text holds enough
brackets to exceed it, the encoding only where it holds a surrogate escape.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from okr_pipeline.config import Limits

__all__ = [
    "DEFAULT_LIMITS",
    "SHAPE",
    "Scanner",
    "Unacceptable",
    "check_depth",
    "check_encodable",
    "has_long_number",
    "loads",
    "might_hold_surrogates",
    "parse",
    "strict_scanner",
    "too_deep",
]

DEFAULT_LIMITS = Limits()


def _shape_of(byte: int) -> int:
    if 48 <= byte <= 57:
        return 48  # a digit: "0"
    return 123 if byte in b"{[" else 32  # "{" or "[": "{", else " "


# JSON bytes translated by this table show in one pass (bytes.translate) their runs of digits
# (a run of n digits is n "0") and how many objects and arrays they might open (each "{" or "["
# is "{"); every other byte is " "
SHAPE = bytes(map(_shape_of, range(256)))
# an escape of a surrogate (or a backslash before "ud800"): the text may hold a lone one
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE_ESCAPE_BYTES = re.compile(rb"\\u[dD][89a-fA-F]")
_CONTAINERS = (dict, list)

# JSONDecoder.scan_once: (text, index) -> (the value that starts there, the index after it)
Scanner = Callable[[str, int], tuple[Any, int]]


class Unacceptable(Exception):
    """Input beyond a limit or not storable: `reason` is what it is rejected as."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def too_deep(limits: Limits) -> Unacceptable:
    """What input nested deeper than the limit is rejected as."""
    return Unacceptable("too_large", f"nested deeper than {limits.max_depth} levels")


def _number_hooks(limits: Limits) -> dict[str, Any]:
    """parse_int and parse_float for the standard parser that refuse over-long numbers."""

    def bounded(convert: Any) -> Any:
        def checked(text: str) -> Any:
            if len(text) > limits.max_digits:
                raise Unacceptable("too_large", f"a number of more than {limits.max_digits} digits")
            return convert(text)

        return checked

    return {"parse_int": bounded(int), "parse_float": bounded(float)}


def parse(text: str, limits: Limits, strict: bool = True) -> Any:
    """json.loads refusing nesting too deep for the parser; with `strict`, numbers longer than
    the limit (needed only where the text holds such a run of digits). The nesting within the
    parser's reach is not measured: see `loads`."""
    try:
        return json.loads(text, **_number_hooks(limits)) if strict else json.loads(text)
    except RecursionError:
        raise too_deep(limits) from None


def loads(text: str, limits: Limits) -> Any:
    """json.loads within the limits; a JSONDecodeError stays one (the input is malformed).
    Its strings may still hold lone surrogates: see `check_encodable`."""
    value = parse(text, limits)
    if text.count("[") + text.count("{") > limits.max_depth:
        check_depth(value, limits)
    return value


def strict_scanner(limits: Limits) -> Scanner:
    """JSONDecoder.scan_once refusing over-long numbers (a RecursionError is the caller's)."""
    # scan_once is set by JSONDecoder.__init__, which typeshed does not declare
    return json.JSONDecoder(**_number_hooks(limits)).scan_once  # type: ignore[attr-defined]


def has_long_number(shape: bytes, limits: Limits) -> bool:
    """Whether JSON bytes (their SHAPE) hold a run of digits longer than a number may be (or a
    string of digits): then `parse` must be strict."""
    return b"0" * (limits.max_digits + 1) in shape


def check_depth(value: Any, limits: Limits) -> None:
    """Raise Unacceptable if objects and arrays nest deeper than the limit (the value itself
    being the first level). Level by level, without recursion."""
    level = [value] if value.__class__ in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limits.max_depth:
            raise too_deep(limits)
        inner = []
        for container in level:
            items = container.values() if container.__class__ is dict else container
            inner += [item for item in items if item.__class__ in _CONTAINERS]
        level = inner


def check_encodable(value: Any) -> None:
    """Raise Unacceptable if a string in the value (a key too) holds a lone surrogate."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise Unacceptable(
            "invalid_encoding", "holds a lone surrogate (\\ud800-\\udfff), which is not text"
        ) from None


def might_hold_surrogates(text: str | bytes) -> bool:
    """Whether JSON text escapes a surrogate (or something like one). Most JSON holds no
    backslash at all: a search for it alone is the fastest."""
    if isinstance(text, bytes):
        return b"\\" in text and _SURROGATE_ESCAPE_BYTES.search(text) is not None
    return "\\" in text and _SURROGATE_ESCAPE.search(text) is not None
