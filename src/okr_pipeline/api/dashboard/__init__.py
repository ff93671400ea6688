"""The dashboard (issue 13): server-rendered pages of the same Flask app as the API, for people
in a browser. Signing in takes an API token into a session cookie (`session`); each page is one
view over the application layer (`pages`, `operations`), each form one action (`actions`) with
the role of its API operation; charts are SVG drawn on the server (`charts`), so no page runs a
script and every asset (one style sheet) comes with the package (`static/`)."""

from okr_pipeline.api.dashboard import actions, errors, operations, pages, session
from okr_pipeline.api.dashboard.session import install
from okr_pipeline.api.dashboard.site import DASHBOARD, STATIC_URL_PATH, site

__all__ = [
    "DASHBOARD",
    "STATIC_URL_PATH",
    "actions",
    "errors",
    "install",
    "operations",
    "pages",
    "session",
    "site",
]
