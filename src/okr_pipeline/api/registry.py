"""The risk model's registered versions (a viewer token) and moving the champion alias (an admin
token): promote a version by hand, or roll back to the previous champion."""

from __future__ import annotations

from typing import Annotated

from flask import Response
from pydantic import Field

from okr_pipeline import jobs
from okr_pipeline.api.area import Area
from okr_pipeline.api.context import json_response, settings
from okr_pipeline.api.models import ErrorBody, Instant, Model

__all__ = ["area"]

area = Area("models", __name__, role="viewer", tag="Models")

VersionName = Annotated[
    str,
    Field(
        pattern=r"^(?:[1-9][0-9]{0,8}|champion|challenger)$",
        description="a version number, or the alias champion or challenger",
    ),
]


class ModelVersion(Model):
    """A registered version of the risk model and what its training recorded."""

    version: str
    run_id: str = Field(description="its MLflow training run")
    aliases: list[str] = Field(description="champion (serves predictions), challenger (newest)")
    created_at: Instant
    metrics: dict[str, float | None] = Field(description="validation metrics (auc, brier...)")
    tags: dict[str, str] = Field(
        description="okr.gate_decision and okr.gate_reason (the promotion gate's), "
        "okr.promotion_reason, okr.promoted_at, okr.rolled_back_at..."
    )


class ModelList(Model):
    items: list[ModelVersion] = Field(description="newest first")
    champion: str | None = Field(description="the version serving predictions")
    challenger: str | None = Field(description="the newest trained version")


class VersionPath(Model):
    version: VersionName


@area.get("/models", responses={200: ModelList})
def list_models() -> Response:
    """The model's versions

    Every registered version, newest first, with its aliases, validation metrics and tags, and
    which versions are the champion and the challenger."""
    return json_response(ModelList.model_validate(jobs.registered_versions(settings())))


@area.get("/models/<version>", responses={200: ModelVersion, 404: ErrorBody})
def get_model(path: VersionPath) -> Response:
    """One model version

    By number or alias, with its metrics and tags."""
    return json_response(ModelVersion.model_validate(jobs.model_version(settings(), path.version)))


@area.post("/models/<version>/promote", role="admin", responses={200: ModelVersion, 404: ErrorBody})
def promote_model(path: VersionPath) -> Response:
    """Promote a version to champion

    By hand, past the promotion gate (as `okr model promote`): the version serves predictions
    from now on, and the previous champion is remembered for a rollback. Promoting the champion
    again changes nothing."""
    promoted = jobs.promote_model(settings(), path.version)
    return json_response(
        ModelVersion.model_validate(jobs.model_version(settings(), promoted.version))
    )


@area.post("/models/rollback", role="admin", responses={200: ModelVersion, 409: ErrorBody})
def rollback_model() -> Response:
    """Roll the champion back

    The champion alias goes back to the version that held it before the last promotion; 409
    when there is no earlier champion."""
    restored = jobs.rollback_model(settings())
    return json_response(
        ModelVersion.model_validate(jobs.model_version(settings(), restored.version))
    )
