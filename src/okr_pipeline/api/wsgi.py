"""The app for a WSGI server: `gunicorn okr_pipeline.api.wsgi:app` (settings from OKR_* and
the configuration file, as the CLI reads them). For counts of several workers in /metrics, set
PROMETHEUS_MULTIPROC_DIR to an empty folder first, as `okr serve` does."""

from okr_pipeline.api.app import create_app

app = create_app()
