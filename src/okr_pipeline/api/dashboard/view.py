"""What every page's view shares: its query parameters read into a model (a bad one is a 400
page, never a 500), the as-of date the pages are read at (kept in every link), the notices an
action leaves, and rendering a template with the signed-in token and its role."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from flask import render_template, request, url_for
from pydantic import AfterValidator, ValidationError
from werkzeug.exceptions import BadRequest

from okr_pipeline import jobs
from okr_pipeline.api.context import caller
from okr_pipeline.api.models import AsOf, Model
from okr_pipeline.core import as_of_instant, now_utc
from okr_pipeline.errors import InputError

__all__ = ["NOTICES", "PageQuery", "keep", "query", "render"]

M = TypeVar("M", bound=Model)

# what an action (or signing out) says on the page it returns to
NOTICES = {
    "signed_out": "You are signed out.",
    "promoted": "The version is the champion now.",
    "rolled_back": "The champion alias is back on the previous champion.",
    "acknowledged": "The alert is acknowledged: it stays quiet until its condition clears.",
    "dead_letters_retried": "The open dead letters were applied again; those still refused "
    "stay open with the reason they fail for now.",
    "quarantine_retried": "The open quarantined rows were validated again; those that pass "
    "are stored.",
}


def _known_notice(value: str) -> str:
    if value not in NOTICES:
        raise ValueError(f"one of {', '.join(NOTICES)}")
    return value


Notice = Annotated[str, AfterValidator(_known_notice)]


class PageQuery(Model):
    """The parameters every page takes."""

    as_of: AsOf | None = None
    notice: Notice | None = None


def query(model: type[M]) -> M:
    """The request's query parameters as `model`: an empty one is absent (a form's "any"); one
    repeated, unknown or invalid is a 400 page naming each problem."""
    repeated = sorted(name for name in request.args if len(request.args.getlist(name)) > 1)
    if repeated:
        raise BadRequest(f"given more than once: {', '.join(repeated)}")
    given = {name: value for name, value in request.args.items() if value != ""}
    try:
        return model.model_validate(given)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False, include_context=False, include_input=False)
        )
        raise BadRequest(f"bad query parameters: {problems}") from None


def as_of(page: PageQuery) -> datetime:
    """The instant a page is read at: its `as_of`, else now."""
    return page.as_of or now_utc()


def keep(endpoint: str, **values: Any) -> str:
    """The URL of `endpoint` with `values`, keeping the as-of date this page was asked for."""
    given = request.args.get("as_of")
    if given and "as_of" not in values and _readable(given):
        values["as_of"] = given
    return url_for(endpoint, **{k: v for k, v in values.items() if v is not None})


def _readable(text: str) -> bool:
    """Whether an as-of date given reads (one that does not is not carried to other pages)."""
    try:
        as_of_instant(text)
    except InputError:
        return False
    return True


def render(template: str, **context: Any) -> str:
    """`template` with the signed-in token (`holder`), what its role allows (`can(role)`),
    the notice asked for and the link helper `keep`."""
    holder = context.pop("holder", caller())
    notice = request.args.get("notice")
    return render_template(
        template,
        holder=holder,
        can=lambda role: holder is not None and jobs.role_allows(holder.role, role),
        notice=NOTICES.get(notice or ""),
        keep=keep,
        **context,
    )
