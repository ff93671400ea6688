"""The risk model's registered versions as the API shows them: every version with its aliases,
metrics and tags, which one is the champion, and one version by number or alias."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from okr_pipeline.config import Settings
from okr_pipeline.errors import NotFoundError
from okr_pipeline.model import ModelVersion, open_registry

__all__ = ["model_version", "registered_versions"]

ALIASES = ("champion", "challenger")


def _shown(version: ModelVersion) -> dict[str, Any]:
    shown = asdict(version)
    shown["aliases"] = list(version.aliases)
    # a metric MLflow kept as NaN (an AUC of one class) is no number in JSON
    shown["metrics"] = {
        name: value if math.isfinite(value) else None for name, value in version.metrics.items()
    }
    return shown


def registered_versions(settings: Settings) -> dict[str, Any]:
    """Every registered version, newest first, and the versions the aliases point at (None:
    no version holds it)."""
    versions = open_registry(settings).versions()
    holders = {alias: None for alias in ALIASES} | {
        alias: v.version for v in versions for alias in v.aliases if alias in ALIASES
    }
    return {"items": [_shown(v) for v in versions], **holders}


def model_version(settings: Settings, version: str) -> dict[str, Any]:
    """The version with this number or alias; NotFoundError if there is none."""
    found = open_registry(settings).version(version)
    if found is None:
        raise NotFoundError(f"no model version or alias {version!r}")
    return _shown(found)
