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
from typing import Any

from okr_pipeline.config import Limits

__all__ = [
    "DEFAULT_LIMITS",
    "DIGITS_AS_ZEROS",
    "Unacceptable",
    "check_depth",
    "check_encodable",
    "has_long_number",
    "loads",
    "might_hold_surrogates",
    "strict_scanner",
]

DEFAULT_LIMITS = Limits()
# digits as "0", every other byte as " ": a run of n zeros is a run of n digits
DIGITS_AS_ZEROS = bytes(48 if 48 <= byte <= 57 else 32 for byte in range(256))
_CONTAINERS = (dict, list)


class Unacceptable(Exception):
    """Input beyond a limit or not storable: `reason` is what it is rejected as."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _too_deep(limits: Limits) -> Unacceptable:
    return Unacceptable("too_large", f"nested deeper than {limits.max_depth} levels")


def _number_hooks(limits: Limits) -> dict[str, Any]:
    """parse_int and parse_float for the standard parser that refuse over-long numbers."""

    def bounded(convert: Any) -> Any:
        def parse(text: str) -> Any:
            if len(text) > limits.max_digits:
                raise Unacceptable("too_large", f"a number of more than {limits.max_digits} digits")
            return convert(text)

        return parse

    return {"parse_int": bounded(int), "parse_float": bounded(float)}


def loads(text: str, limits: Limits) -> Any:
    """json.loads within the limits; a JSONDecodeError stays one (the input is malformed).
    Its strings may still hold lone surrogates: see `check_encodable`."""
    try:
        value = json.loads(text, **_number_hooks(limits))
    except RecursionError:
        raise _too_deep(limits) from None
    if text.count("[") + text.count("{") > limits.max_depth:
        check_depth(value, limits)
    return value


def strict_scanner(limits: Limits) -> Any:
    """JSONDecoder.scan_once refusing over-long numbers (a RecursionError is the caller's)."""
    return json.JSONDecoder(**_number_hooks(limits)).scan_once


def has_long_number(data: bytes, limits: Limits) -> bool:
    """Whether the bytes hold a run of digits longer than a number may be (or maybe a string of
    digits): then the strict parsing is needed."""
    return b"0" * (limits.max_digits + 1) in data.translate(DIGITS_AS_ZEROS)


def check_depth(value: Any, limits: Limits) -> None:
    """Raise Unacceptable if objects and arrays nest deeper than the limit (the value itself
    being the first level). Level by level, without recursion."""
    level = [value] if value.__class__ in _CONTAINERS else []
    depth = 0
    while level:
        depth += 1
        if depth > limits.max_depth:
            raise _too_deep(limits)
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
    """Whether JSON text holds a surrogate escape (or something like one)."""
    if text.__class__ is bytes:
        return b"\\ud" in text or b"\\uD" in text  # type: ignore[operator]
    return "\\ud" in text or "\\uD" in text  # type: ignore[operator]
