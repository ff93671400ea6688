"""The API's fixtures: the demo app's (`demo_app`), shared with the dashboard's tests."""

from demo_app import (  # noqa: F401  (fixtures, found by pytest here)
    _no_pipeline_run_outlives_its_test,
    app,
    client,
    settings,
    tokens,
)
