"""MLflow setup: the tracking store comes from config (sqlite file on a laptop)."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import mlflow
from mlflow import MlflowClient

from seglake.config.schema import MlflowConfig


def _sqlite_file(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")).expanduser() if uri.startswith("sqlite:///") else None


def configure_mlflow(cfg: MlflowConfig) -> str:
    """Point MLflow at the configured store and experiment; return the experiment id.

    With a sqlite store, artifacts (models, plots) go to `mlartifacts/` beside the
    database file rather than wherever the job happened to be started.
    """
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    # Schema creation/migration notes on every new sqlite store are noise for a job's output.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    db = _sqlite_file(cfg.tracking_uri)
    if db is not None:
        db.resolve().parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(cfg.tracking_uri)
    mlflow.set_registry_uri(cfg.tracking_uri)
    client = MlflowClient()
    experiment = client.get_experiment_by_name(cfg.experiment)
    if experiment is None:
        location = (db.resolve().parent / "mlartifacts").as_uri() if db is not None else None
        experiment_id = client.create_experiment(cfg.experiment, artifact_location=location)
    else:
        experiment_id = experiment.experiment_id
    mlflow.set_experiment(experiment_id=experiment_id)
    return experiment_id


def registered_model_name(cfg: MlflowConfig, model: str) -> str:
    return f"{cfg.registered_model_prefix}_{model}"
