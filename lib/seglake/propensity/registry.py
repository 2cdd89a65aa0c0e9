"""Model registry policy: every new version becomes `challenger`; it takes `champion` only
when it passes the absolute thresholds and beats the current champion on the same test
data by the configured margin. Rolling back is moving the `champion` alias back."""

from __future__ import annotations

from dataclasses import dataclass

from mlflow import MlflowClient
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException

from seglake.config.schema import PropensityPromotion
from seglake.propensity.evaluate import Evaluation

CHAMPION = "champion"
CHALLENGER = "challenger"


@dataclass(frozen=True)
class Decision:
    promote: bool
    reason: str
    metric: str
    challenger_value: float
    champion_value: float | None = None
    champion_version: str | None = None


def decide(
    challenger: Evaluation,
    champion: Evaluation | None,
    cfg: PropensityPromotion,
    champion_version: str | None = None,
    champion_note: str = "",
) -> Decision:
    """Thresholds first (a model below them never serves), then the margin over the champion."""
    value = getattr(challenger, cfg.metric)
    failures = []
    if not challenger.roc_auc >= cfg.min_roc_auc:
        failures.append(f"roc_auc {challenger.roc_auc:.4f} < min_roc_auc {cfg.min_roc_auc}")
    if not challenger.brier <= cfg.max_brier:
        failures.append(f"brier {challenger.brier:.4f} > max_brier {cfg.max_brier}")
    champ_value = getattr(champion, cfg.metric) if champion is not None else None

    def made(promote: bool, reason: str) -> Decision:
        return Decision(promote, reason, cfg.metric, value, champ_value, champion_version)

    if failures:
        return made(False, "kept as challenger: fails absolute thresholds: " + "; ".join(failures))
    if champion is None:
        why = champion_note or "no champion yet"
        return made(True, f"promoted: {why}; passes thresholds ({cfg.metric} {value:.4f})")
    gain = value - champ_value
    if gain >= cfg.min_improvement:
        return made(
            True,
            f"promoted: {cfg.metric} {value:.4f} vs champion v{champion_version} {champ_value:.4f} "
            f"(+{gain:.4f} >= {cfg.min_improvement})",
        )
    return made(
        False,
        f"kept as challenger: {cfg.metric} {value:.4f} vs champion v{champion_version} {champ_value:.4f} "
        f"({gain:+.4f} < +{cfg.min_improvement})",
    )


def version_by_alias(client: MlflowClient, name: str, alias: str) -> ModelVersion | None:
    try:
        return client.get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def apply_decision(client: MlflowClient, name: str, version: str, decision: Decision) -> None:
    """Alias the new version `challenger`; move `champion` to it when promoted. The
    decision stays on the version as tags, so the registry tells its own history."""
    client.set_registered_model_alias(name, CHALLENGER, version)
    client.set_model_version_tag(name, version, "seglake.promotion", "promoted" if decision.promote else "rejected")
    client.set_model_version_tag(name, version, "seglake.promotion_reason", decision.reason)
    if decision.champion_version:
        client.set_model_version_tag(name, version, "seglake.previous_champion", decision.champion_version)
    if decision.promote:
        client.set_registered_model_alias(name, CHAMPION, version)


def rollback(client: MlflowClient, name: str, version: str) -> None:
    """Serve `version` again: one alias change; the next scoring run picks it up."""
    client.set_registered_model_alias(name, CHAMPION, version)
