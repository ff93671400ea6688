"""JSON request bodies, read fast and so that no body gives a server error.

orjson reads what it can (several times faster than the standard parser: it is most of what a
request of many rows costs); what it refuses goes to the standard parser, which reads what it
reads as before (integers beyond 64 bits, NaN, lone surrogates) or says why not. Nesting beyond
that parser's reach raises RecursionError, which is the request's fault (a body the models do
not take: 422), not the server's.
"""

from __future__ import annotations

from typing import Any

import orjson
from flask.json.provider import DefaultJSONProvider

__all__ = ["BoundedJSONProvider"]


class BoundedJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        if not kwargs:
            try:
                return orjson.loads(s)
            except orjson.JSONDecodeError:
                pass  # the standard parser reads it, or says why not
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
