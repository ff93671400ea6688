"""The REST API (issue 12): a Flask app made by `create_app` (flask-openapi3: request and
response models in pydantic, the OpenAPI document from the same models), one blueprint per
area (`meta`, `data`, `admin`), served by gunicorn (`serve`, the `okr serve` command, or
`gunicorn okr_pipeline.api.wsgi:app`). Views call the application layer (`okr_pipeline.jobs`)
and nothing below it.

Its modules load when first asked for: `serve` must set up the metrics of several processes
before the app's modules (prometheus_client) are imported.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from okr_pipeline.api.app import create_app
    from okr_pipeline.api.serve import serve

_MODULE_OF = {"create_app": "app", "serve": "serve"}
__all__ = ["create_app", "serve"]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value
