"""Secrets out of what is shown: URLs (warehouse, MLflow tracking, any other) with the password
hidden, whatever the URL's scheme and even when it does not parse, and messages of other
libraries that quote such a URL whole."""

from __future__ import annotations

import re
from urllib.parse import unquote

__all__ = ["HIDDEN", "redact_text", "redact_url"]

HIDDEN = "***"
# parameters that carry credentials: in a URL's query, or as key=value (libpq's conninfo); an
# API key (`?key=...`, as Google's APIs take it, or `api_key`, `apikey`) too
_SECRET_QUERY = re.compile(
    r"((?:^|[?&;\s])(?:[^=&#;\s]*(?:password|passwd|secret|token)[^=&#;\s]*|(?:api[_-]?)?key)"
    r"\s*=\s*)([^&#;\s]*)",
    re.I,
)
_HIDE_VALUE = rf"\1{HIDDEN}"


def _split(url: str) -> tuple[str, str, str | None, str, str] | None:
    """(scheme, user, password, host, rest) of a URL with a user part, else None.

    Read from the text, not by a parser, so that a URL no parser accepts (a bad port, a password
    holding `@`) is still split: the password is everything between the first `:` of the user
    part and the last `@` before the path.
    """
    scheme, separator, rest = url.partition("://")
    if not separator:
        return None
    authority_end = len(rest)
    for delimiter in "/?#":
        position = rest.find(delimiter, rest.rfind("@") + 1)
        if position != -1:
            authority_end = min(authority_end, position)
    user_info, at, host = rest[:authority_end].rpartition("@")
    if not at:
        return None
    user, colon, password = user_info.partition(":")
    return scheme, user, password if colon else None, host, rest[authority_end:]


def redact_url(url: str) -> str:
    """`url` with the password of its user part and any secret query value replaced by ***."""
    parts = _split(url)
    if parts is None:
        scheme, colon, rest = url.partition(":")
        if colon and "@" in rest:  # not a URL `_split` reads (no "//"): hide all up to the host
            url = f"{scheme}:{HIDDEN}@{rest.rpartition('@')[2]}"
        return _SECRET_QUERY.sub(_HIDE_VALUE, url)
    scheme, user, password, host, rest = parts
    user_info = user if password is None else f"{user}:{HIDDEN}"
    return f"{scheme}://{user_info}@{host}{_SECRET_QUERY.sub(_HIDE_VALUE, rest)}"


def redact_text(text: str, url: str) -> str:
    """`text` (another library's message) without the secrets of `url`, as written or decoded."""
    secrets = [m.group(2) for m in _SECRET_QUERY.finditer(url)]
    parts = _split(url)
    if parts is not None and parts[2]:
        secrets.append(parts[2])
    for secret in secrets:
        for form in {secret, unquote(secret)}:
            if form:
                text = text.replace(form, HIDDEN)
    return text
