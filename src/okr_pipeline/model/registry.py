"""The risk model's versions in MLflow: log a training run as a new registered version and move
the aliases `challenger` (newest trained) and `champion` (serves predictions) between versions."""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol, cast

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion as MlflowModelVersion
from mlflow.entities.model_registry import RegisteredModel
from mlflow.exceptions import MlflowException
from mlflow.models import Model as MlflowModel
from mlflow.models import ModelSignature, infer_signature
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, RESOURCE_DOES_NOT_EXIST, ErrorCode
from sqlalchemy.engine import make_url

from okr_pipeline.config import Settings
from okr_pipeline.core import redact_text, redact_url
from okr_pipeline.errors import (
    ConfigError,
    ConflictError,
    InputError,
    NoChampionError,
    NotFoundError,
    OkrError,
)

__all__ = [
    "CHALLENGER",
    "CHAMPION",
    "ModelVersion",
    "Predictor",
    "Registry",
    "RiskPredictor",
    "load_champion",
    "open_registry",
]

CHALLENGER = "challenger"
CHAMPION = "champion"
# Previous champions, oldest first, as a registered-model tag: survives restarts, needs no table.
HISTORY_TAG = "okr.champion_history"
HISTORY_LENGTH = 50
# Pinned in the model's requirements: what unpickling a RiskModel needs, at the versions trained.
PINNED_PACKAGES = ("scikit-learn", "lightgbm", "pandas", "numpy", "cloudpickle")
EXAMPLE_ROWS = 5  # the logged input example documents the schema; more rows only cost space
# MLflow loggers that flood every call with notes on choices made here on purpose.
NOISY_LOGGERS = {
    "mlflow": logging.WARNING,  # INFO: database migrations, uv project detection
    "mlflow.sklearn": logging.ERROR,  # "pickle formats need caution": cloudpickle is deliberate
    "mlflow.utils.environment": logging.ERROR,  # "pip version not found" under uv
}
_NOT_FOUND = ErrorCode.Name(RESOURCE_DOES_NOT_EXIST)


class Predictor(Protocol):
    """What the registry stores: a picklable object giving the probability of each class."""

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray: ...


class RiskPredictor(Predictor, Protocol):
    """The champion as the pipeline uses it (a risk.RiskModel): also the drivers of its
    predictions and what it was trained on."""

    trained_key_results_: frozenset[str]

    def predict_proba_columns(self, columns: Mapping[str, Any]) -> np.ndarray: ...

    def reasons(self, features: pd.DataFrame, top: int = 3) -> list[list[dict[str, Any]]]: ...

    def feature_importance(self) -> pd.Series: ...


@dataclass(frozen=True)
class ModelVersion:
    """One registered version of the risk model, with the metrics and tags of its training."""

    version: str
    run_id: str
    aliases: tuple[str, ...]
    created_at: str  # ISO 8601, UTC
    metrics: dict[str, float]
    tags: dict[str, str]


class Registry:
    """The versions of one registered model in one MLflow tracking store (sqlite file or server).

    Aliases, not stages: `log_training` points `challenger` at the new version, `promote` and
    `rollback` move `champion`; each promotion's predecessor is kept for rollback.
    """

    def __init__(
        self,
        tracking_uri: str,
        registered_name: str,
        artifact_root: Path | None = None,
        experiment: str = "okr-risk",
    ) -> None:
        if not registered_name.strip():
            raise ConfigError("the registered model name is empty")
        self.tracking_uri = tracking_uri
        self.registered_name = registered_name
        self._where = redact_url(tracking_uri)
        with self._mlflow():
            database = _sqlite_path(tracking_uri)
            if database is not None:
                try:
                    database.parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(
                        f"cannot create the MLflow database at {database}: {exc}"
                    ) from exc
                # Without an explicit root MLflow writes artifacts under the working directory.
                artifact_root = artifact_root or database.parent / "mlartifacts"
            # The registry URI is explicit so that MLFLOW_REGISTRY_URI cannot split the two stores.
            self._client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
            self._experiment_id = self._experiment(experiment, artifact_root)

    # Training

    def log_training(
        self,
        *,
        model: Predictor,
        params: dict[str, object],
        metrics: dict[str, float],
        input_example: pd.DataFrame,
        artifacts: Sequence[Path] = (),
        tags: dict[str, str] | None = None,
    ) -> ModelVersion:
        """Log one training run (params, metrics, artifact files, the model), register the model
        as a new version and point `challenger` at it."""
        if not callable(getattr(model, "predict_proba", None)):
            raise InputError(f"the model has no predict_proba method: {type(model).__name__}")
        missing = [str(path) for path in artifacts if not Path(path).is_file()]
        if missing:
            raise InputError(f"artifact files not found: {', '.join(missing)}")
        tags = {key: str(value) for key, value in (tags or {}).items()}
        example = input_example.head(EXAMPLE_ROWS)
        signature = infer_signature(example, model.predict_proba(example))
        # log_model, and the SQL registry's check of the logged model, only use the process-wide
        # tracking URI and active run; both are pointed at this store for the duration.
        with (
            self._mlflow(),
            _process_tracking_uri(self.tracking_uri),
            mlflow.start_run(experiment_id=self._experiment_id) as run,
        ):
            mlflow.log_params(params)
            mlflow.log_metrics(metrics)
            mlflow.set_tags(tags)
            for path in artifacts:
                mlflow.log_artifact(str(path))
            logged = mlflow.sklearn.log_model(
                model,
                name="model",
                signature=signature,
                input_example=example,
                pip_requirements=_pip_requirements(),  # inferring them costs seconds
                serialization_format=mlflow.sklearn.SERIALIZATION_FORMAT_CLOUDPICKLE,
                pyfunc_predict_fn="predict_proba",  # served output is the risk, not a class
            )
            self._create_registered_model()
            created = self._client.create_model_version(
                self.registered_name,
                source=logged.model_uri,
                run_id=run.info.run_id,
                tags=tags,
                model_id=logged.model_id,
            )
            self._client.set_registered_model_alias(
                self.registered_name, CHALLENGER, created.version
            )
        return self._require(str(created.version))  # an int from some stores

    # Reading

    def load(self, version: str) -> Predictor:
        """The model object of a version (a number, or an alias such as "champion")."""
        return self.load_with_signature(version)[0]

    def load_with_signature(self, version: str) -> tuple[Predictor, ModelSignature | None]:
        """The model object of a version and the signature it was logged with (what
        `mlflow models serve` checks its input against)."""
        number = self._require(version).version
        with self._mlflow(), tempfile.TemporaryDirectory(prefix="okr-model-") as tmp:
            # Not a models:/ URI: MLflow resolves those through the process-wide registry URI.
            source = self._client.get_model_version_download_uri(self.registered_name, number)
            local = mlflow.artifacts.download_artifacts(
                artifact_uri=source, dst_path=tmp, tracking_uri=self.tracking_uri
            )
            return mlflow.sklearn.load_model(local), MlflowModel.load(local).signature

    def alias_version(self, alias: str) -> str | None:
        """The number of the version holding `alias` (None: no version holds it), in one call
        to the registry: cheap enough to ask before serving."""
        with self._mlflow():
            try:
                found = self._client.get_model_version_by_alias(self.registered_name, alias)
            except MlflowException as exc:
                # no such registered model; or it exists and no version holds the alias
                if exc.error_code == _NOT_FOUND or "not found" in exc.message:
                    return None
                raise
            return str(found.version)

    def version(self, alias_or_number: str) -> ModelVersion | None:
        """The version with this number or alias; None if there is none."""
        with self._mlflow():
            registered = self._registered_model()
            if registered is None:
                return None
            number = str(alias_or_number)
            if not (number.isascii() and number.isdigit()):
                if number not in registered.aliases:
                    return None
                number = str(registered.aliases[number])
            try:
                found = self._client.get_model_version(self.registered_name, number)
            except MlflowException as exc:
                if exc.error_code == _NOT_FOUND:
                    return None
                raise
            return self._describe(found, registered)

    def versions(self) -> list[ModelVersion]:
        """All versions, newest first."""
        with self._mlflow():
            registered = self._registered_model()
            if registered is None:
                return []
            found: list[MlflowModelVersion] = self._client.search_model_versions(
                f"name = '{self.registered_name}'"
            )
            found = sorted(found, key=lambda mv: int(mv.version), reverse=True)
            return [self._describe(mv, registered) for mv in found]

    # Promotion

    def promote(self, version: str, reason: str) -> ModelVersion:
        """Point `champion` at a version, remembering the previous champion for `rollback`.
        Promoting the current champion again changes nothing."""
        target = self._require(version)
        current = self.version(CHAMPION)
        if current is not None and current.version == target.version:
            return current
        with self._mlflow():
            if current is not None:  # history first: a failure after it leaves a harmless entry
                self._write_history([*self._history(), current.version])
            self._client.set_registered_model_alias(self.registered_name, CHAMPION, target.version)
            self._tag_version(
                target.version, {"okr.promotion_reason": reason, "okr.promoted_at": _now()}
            )
        return self._require(target.version)

    def rollback(self) -> ModelVersion:
        """Point `champion` back at the version that held it before the last promotion."""
        with self._mlflow():
            history = self._history()
            if not history:
                raise ConflictError(
                    f"{self.registered_name} has no previous champion to roll back to "
                    f"(in {self._where})"
                )
            *earlier, previous = history
            current = self.version(CHAMPION)
            self._client.set_registered_model_alias(self.registered_name, CHAMPION, previous)
            self._write_history(earlier)
            reason = "rollback"
            if current is not None:
                self._tag_version(current.version, {"okr.rolled_back_at": _now()})
                reason = f"rollback from version {current.version}"
            self._tag_version(previous, {"okr.promotion_reason": reason, "okr.promoted_at": _now()})
        return self._require(previous)

    def record_decision(self, version: str, promoted: bool, reason: str) -> None:
        """Record the promotion gate's decision and reason on the version and on its run."""
        target = self._require(version)
        decision = {
            "okr.gate_decision": "promoted" if promoted else "refused",
            "okr.gate_reason": reason,
        }
        with self._mlflow():
            self._tag_version(target.version, decision)
            if target.run_id:
                for key, value in decision.items():
                    self._client.set_tag(target.run_id, key, value)

    # Internals

    @contextlib.contextmanager
    def _mlflow(self) -> Iterator[None]:
        """Quiet MLflow's routine notes, and turn its errors into messages for the user."""
        with _quiet_mlflow():
            try:
                yield
            except MlflowException as exc:
                message = redact_text(exc.message, self.tracking_uri)  # MLflow quotes the URI whole
                raise OkrError(f"MLflow at {self._where}: {message}") from exc

    def _experiment(self, name: str, artifact_root: Path | None) -> str:
        found = self._client.get_experiment_by_name(name)
        if found is None:
            location = artifact_root.resolve().as_uri() if artifact_root else None
            return self._client.create_experiment(name, artifact_location=location)
        if found.lifecycle_stage != "active":
            raise ConfigError(
                f"the MLflow experiment {name!r} in {self._where} is deleted: restore it "
                "or choose another experiment name"
            )
        return found.experiment_id

    def _create_registered_model(self) -> None:
        try:
            self._client.create_registered_model(self.registered_name)
        except MlflowException as exc:
            if exc.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise

    def _registered_model(self) -> RegisteredModel | None:
        try:
            return self._client.get_registered_model(self.registered_name)
        except MlflowException as exc:
            if exc.error_code == _NOT_FOUND:
                return None  # created by the first log_training
            raise

    def _require(self, alias_or_number: str) -> ModelVersion:
        found = self.version(alias_or_number)
        if found is None:
            raise NotFoundError(
                f"{self.registered_name} has no version or alias {alias_or_number!r} "
                f"(in {self._where})"
            )
        return found

    def _describe(self, mv: MlflowModelVersion, registered: RegisteredModel) -> ModelVersion:
        # Aliases from the registered model: searched versions come without theirs.
        aliases = sorted(a for a, n in registered.aliases.items() if str(n) == str(mv.version))
        metrics = self._client.get_run(mv.run_id).data.metrics if mv.run_id else {}
        return ModelVersion(
            version=str(mv.version),
            run_id=mv.run_id or "",
            aliases=tuple(aliases),
            created_at=_iso(mv.creation_timestamp),
            metrics=dict(metrics),
            tags=dict(mv.tags or {}),
        )

    def _tag_version(self, number: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self._client.set_model_version_tag(self.registered_name, number, key, value)

    def _history(self) -> list[str]:
        registered = self._registered_model()
        value = registered.tags.get(HISTORY_TAG, "") if registered is not None else ""
        return [number for number in value.split(",") if number]

    def _write_history(self, numbers: list[str]) -> None:
        value = ",".join(numbers[-HISTORY_LENGTH:])
        self._client.set_registered_model_tag(self.registered_name, HISTORY_TAG, value)


@contextlib.contextmanager
def _process_tracking_uri(uri: str) -> Iterator[None]:
    """MLflow's process-wide tracking URI set to `uri` for the block, then restored, and the
    MLFLOW_TRACKING_URI variable (which setting the URI also sets) as it was.

    Not thread-safe, like MLflow's fluent API that needs it.
    """
    saved_variable = os.environ.get("MLFLOW_TRACKING_URI")
    saved = mlflow.get_tracking_uri()
    mlflow.set_tracking_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved)
        if saved_variable is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = saved_variable


@contextlib.contextmanager
def _quiet_mlflow() -> Iterator[None]:
    loggers = {logging.getLogger(name): level for name, level in NOISY_LOGGERS.items()}
    saved = {logger: logger.level for logger in loggers}
    for logger, level in loggers.items():
        logger.setLevel(max(level, logger.getEffectiveLevel()))
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", module=r"mlflow(\.|$)")
            yield
    finally:
        for logger, level in saved.items():
            logger.setLevel(level)


def _pip_requirements() -> list[str]:
    pinned = []
    for package in PINNED_PACKAGES:
        with contextlib.suppress(metadata.PackageNotFoundError):
            pinned.append(f"{package}=={metadata.version(package)}")
    return pinned


def _sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a sqlite tracking URI, else None."""
    if not tracking_uri.startswith("sqlite:"):
        return None
    database = make_url(tracking_uri).database
    return Path(database) if database and database != ":memory:" else None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _iso(timestamp_ms: int | None) -> str:
    if timestamp_ms is None:
        return ""
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat(timespec="milliseconds")


def open_registry(settings: Settings) -> Registry:
    """The configured registry: tracking store and artifacts under the data directory unless
    `model.tracking_uri` names a server."""
    return Registry(
        settings.tracking_uri,
        settings.model.registered_name,
        artifact_root=settings.data_dir.resolve() / "mlartifacts",
    )


def load_champion(settings: Settings) -> tuple[ModelVersion, RiskPredictor]:
    """The version holding the `champion` alias and its model (the pipeline registers only the
    risk models that `model.train` makes)."""
    registry = open_registry(settings)
    champion = registry.version(CHAMPION)
    if champion is None:
        raise NoChampionError
    return champion, cast(RiskPredictor, registry.load(champion.version))
