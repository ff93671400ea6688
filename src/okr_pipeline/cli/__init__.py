"""The `okr` command: the output layer over the package (human text, or one JSON document).

Each module registers the commands of one area on the group defined in `app`."""

from okr_pipeline.cli import api, data, model, monitoring, pipelines, stream, up  # noqa: F401
from okr_pipeline.cli.app import main

__all__ = ["main"]
