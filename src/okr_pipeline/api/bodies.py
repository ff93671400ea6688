"""JSON request bodies read so that no body gives a server error: nesting beyond the parser's
reach raises RecursionError in the standard parser, which is the request's fault (a body that
is not JSON the models take: 422), not the server's."""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider

__all__ = ["BoundedJSONProvider"]


class BoundedJSONProvider(DefaultJSONProvider):
    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            return super().loads(s, **kwargs)
        except RecursionError:
            raise ValueError("JSON nested too deeply") from None
