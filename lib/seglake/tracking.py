"""MLflow setup: the tracking store comes from config (sqlite file on a laptop)."""

from __future__ import annotations

import os
from pathlib import Path

import mlflow

from seglake.config.schema import MlflowConfig


def configure_mlflow(cfg: MlflowConfig) -> str:
    """Point MLflow at the configured store and experiment; return the experiment id."""
    uri = cfg.tracking_uri
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    # Quieter, faster local runs: no prompts about git, no environment inference.
    os.environ.setdefault("MLFLOW_TRACKING_SILENT", "true")
    os.environ.setdefault("GIT_PYTHON_REFRESH", "quiet")
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    experiment = mlflow.set_experiment(cfg.experiment)
    return experiment.experiment_id


def registered_model_name(cfg: MlflowConfig, model: str) -> str:
    return f"{cfg.registered_model_prefix}_{model}"
