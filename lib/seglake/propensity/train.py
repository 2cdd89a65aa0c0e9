"""gold.customer_features + silver facts -> a propensity model per label: training set over
past snapshots, search, test-period metrics against the logistic baseline, MLflow run,
registration and the champion/challenger decision."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import mlflow
import mlflow.spark
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pyspark.errors import PySparkException
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.catalog import GOLD_CUSTOMER_FEATURES, SILVER_EVENTS, SILVER_ORDERS, SILVER_SESSIONS, Catalog
from seglake.config.schema import PropensityPromotion, SeglakeConfig
from seglake.errors import InputError
from seglake.features.build import build_features
from seglake.propensity import plots
from seglake.propensity.evaluate import Evaluation, evaluate
from seglake.propensity.labels import LABEL_COL
from seglake.propensity.models import (
    SCORE_COL,
    baseline_param_maps,
    baseline_pipeline,
    candidates,
    class_weights,
    feature_importances,
    fit_pipeline,
    score_column,
    search,
    tree_param_map,
    tree_pipeline,
    with_weights,
)
from seglake.propensity.registry import CHAMPION, Decision, apply_decision, decide, version_by_alias
from seglake.propensity.training_set import (
    SPLIT_COL,
    TEST,
    TRAIN,
    VALIDATION,
    SnapshotPlan,
    check_feature_columns,
    check_leakage,
    label_definition,
    missing_snapshots,
    observed_until,
    plan_snapshots,
    training_set,
)
from seglake.runs import RunContext
from seglake.tracking import configure_mlflow, registered_model_name

ODDS_PARAM = "score_odds_factor"


def model_key(label: str) -> str:
    return f"propensity_{label}"


@dataclass(frozen=True)
class TrainResult:
    label: str
    backend: str
    plan: SnapshotPlan
    rows: dict[str, tuple[int, int]]  # split -> (rows, positives)
    best_params: dict[str, float]
    search_method: str
    model: Evaluation
    baseline: Evaluation
    decision: Decision
    model_name: str
    model_version: str
    mlflow_run_id: str
    built_snapshots: list[date]


def ensure_snapshots(
    spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, dates: tuple[date, ...], progress: Callable[[str], None]
) -> list[date]:
    """Build the feature snapshots training needs; they are point-in-time by construction,
    so a past snapshot built today equals the one a job would have built back then."""
    missing = missing_snapshots(spark, catalog, dates)
    if missing and not cfg.propensity.build_missing_features:
        raise InputError(
            "gold.customer_features has no snapshot for "
            + ", ".join(d.isoformat() for d in missing)
            + "; run `seglake features --as-of <date>` for each, or set propensity.build_missing_features: true"
        )
    for d in missing:
        progress(f"  building gold.customer_features as_of {d} for training")
        build_features(spark, cfg, catalog, d)
    return missing


def _split_counts(ds: DataFrame) -> dict[str, tuple[int, int]]:
    rows = ds.groupBy(SPLIT_COL).agg(F.count(F.lit(1)).alias("n"), F.sum(LABEL_COL).alias("pos")).collect()
    return {r[SPLIT_COL]: (int(r["n"]), int(r["pos"] or 0)) for r in rows}


def scored(model: PipelineModel, df: DataFrame, odds_factor: float) -> DataFrame:
    return model.transform(df).select(LABEL_COL, score_column(odds_factor).alias(SCORE_COL))


def _champion_on_test(client: MlflowClient, name: str, test: DataFrame) -> tuple[Evaluation | None, str | None, str]:
    """The current champion scored on this run's test data (so both are judged on the
    same customers and dates)."""
    current = version_by_alias(client, name, CHAMPION)
    if current is None:
        return None, None, "no champion yet"
    try:
        model = mlflow.spark.load_model(f"models:/{name}/{current.version}")
        factor = float(client.get_run(current.run_id).data.params.get(ODDS_PARAM, "1.0"))
        return evaluate(scored(model, test, factor)), str(current.version), ""
    except (PySparkException, MlflowException, OSError) as exc:
        note = f"champion v{current.version} cannot score this test data ({str(exc).splitlines()[0][:160]})"
        return None, str(current.version), note


def register_and_promote(
    model: PipelineModel,
    backend: str,
    name: str,
    test: DataFrame,
    evaluation: Evaluation,
    promotion: PropensityPromotion,
) -> tuple[str, Decision]:
    """Inside an active MLflow run: log and register the model, judge it against the
    current champion on the same test rows, move the aliases, log the decision."""
    client = MlflowClient()
    info = mlflow.spark.log_model(
        model, artifact_path="model", registered_model_name=name, pip_requirements=_requirements(backend)
    )
    version = str(info.registered_model_version)
    champ_eval, champ_version, note = _champion_on_test(client, name, test)
    decision = decide(evaluation, champ_eval, promotion, champ_version, note)
    apply_decision(client, name, version, decision)
    mlflow.set_tags(
        {
            "seglake.promotion": "promoted" if decision.promote else "rejected",
            "seglake.promotion_reason": decision.reason,
            "seglake.model_version": version,
        }
    )
    if decision.champion_value is not None:
        mlflow.log_metric(f"champion_test_{decision.metric}", decision.champion_value)
    mlflow.log_metric("promoted", 1.0 if decision.promote else 0.0)
    return version, decision


def train_propensity(
    spark: SparkSession,
    cfg: SeglakeConfig,
    catalog: Catalog,
    run: RunContext,
    label: str,
    progress: Callable[[str], None] = print,
) -> TrainResult:
    pcfg = cfg.propensity
    definition = label_definition(pcfg, label)
    plan = plan_snapshots(pcfg, definition.horizon_days, observed_until(spark, catalog))
    built = ensure_snapshots(spark, cfg, catalog, plan.all, progress)
    catalog.require(spark, (SILVER_SESSIONS,), "silver")
    features = catalog.read(spark, GOLD_CUSTOMER_FEATURES)
    check_feature_columns(features, pcfg)
    ds = training_set(
        features,
        catalog.read(spark, SILVER_ORDERS),
        catalog.read(spark, SILVER_SESSIONS),
        catalog.read(spark, SILVER_EVENTS),
        definition,
        plan,
    ).cache()
    counts = _split_counts(ds)
    for split in (TRAIN, TEST):
        n, pos = counts.get(split, (0, 0))
        if pos < pcfg.min_positives or n - pos < pcfg.min_positives:
            raise InputError(
                f"label {label}: the {split} period has {pos} positive and {n - pos} negative rows; "
                f"at least {pcfg.min_positives} of each are needed (propensity.min_positives)"
            )

    fit_part = ds.where(F.col(SPLIT_COL) != TEST)
    leakage = check_leakage(ds.where(F.col(SPLIT_COL) == TRAIN), list(pcfg.features), pcfg.max_single_feature_auc)
    weights, _, _ = class_weights(fit_part, pcfg.class_weight)
    weighted = with_weights(ds, weights)
    train = weighted.where(F.col(SPLIT_COL) == TRAIN)
    validation = weighted.where(F.col(SPLIT_COL) == VALIDATION) if VALIDATION in counts else None
    fit_data = weighted.where(F.col(SPLIT_COL) != TEST)
    test = ds.where(F.col(SPLIT_COL) == TEST)

    backend = pcfg.backend
    parallelism = 1 if backend == "xgboost" else max(1, pcfg.search.parallelism)
    pipeline, est = tree_pipeline(backend, pcfg)
    grid = candidates(pcfg.search)
    param_maps = [tree_param_map(backend, est, p) for p in grid]
    progress(f"  {label}: searching {len(grid)} {backend} candidate(s) over {len(plan.train)} training snapshot(s)")
    found = search(pipeline, param_maps, train, validation, pcfg.search, parallelism)
    best = grid[found.best_index]
    model = fit_pipeline(pipeline, fit_data, param_maps[found.best_index])

    base_pipe, base_est = baseline_pipeline(pcfg)
    base_maps = baseline_param_maps(base_est, pcfg.search)
    base_found = search(base_pipe, base_maps, train, validation, pcfg.search, parallelism=min(2, len(base_maps)))
    baseline = fit_pipeline(base_pipe, fit_data, base_maps[base_found.best_index])

    model_eval = evaluate(scored(model, test, weights.odds_factor))
    base_eval = evaluate(scored(baseline, test, weights.odds_factor))

    experiment_id = configure_mlflow(cfg.mlflow)
    name = registered_model_name(cfg.mlflow, model_key(label))
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"propensity-{label}-{plan.test[-1]}") as active:
        mlflow.set_tags(
            {"seglake.run_id": run.run_id, "seglake.env": cfg.env, "seglake.label": label, "seglake.backend": backend}
        )
        mlflow.log_params(
            {
                "label": label,
                "label_kind": definition.kind,
                "horizon_days": definition.horizon_days,
                "category": definition.category or "",
                "backend": backend,
                "features": ",".join(pcfg.features),
                "train_as_of": ",".join(d.isoformat() for d in plan.train),
                "validation_as_of": ",".join(d.isoformat() for d in plan.validation),
                "test_as_of": ",".join(d.isoformat() for d in plan.test),
                "class_weight": pcfg.class_weight,
                ODDS_PARAM: weights.odds_factor,
                "search": f"{pcfg.search.strategy}, {found.method}",
                **{f"best_{k}": v for k, v in best.as_dict().items()},
                "baseline_reg_param": pcfg.search.baseline_reg_param[base_found.best_index]
                if pcfg.search.baseline_reg_param
                else 0.0,
            }
        )
        mlflow.log_metrics({f"rows_{s}": float(n) for s, (n, _) in counts.items()})
        mlflow.log_metrics({f"positives_{s}": float(p) for s, (_, p) in counts.items()})
        for i, score in enumerate(found.scores):
            mlflow.log_metric("search_roc_auc", score, step=i)
        mlflow.log_metrics(model_eval.metrics("test_"))
        mlflow.log_metrics(base_eval.metrics("baseline_test_"))
        mlflow.log_metric("test_roc_auc_over_baseline", model_eval.roc_auc - base_eval.roc_auc)
        importances = feature_importances(model, backend, list(pcfg.features))
        base_importances = feature_importances(baseline, "logistic", list(pcfg.features))
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            curves = {backend: model_eval, "logistic baseline": base_eval}
            plots.roc_curves(curves, out)
            plots.reliability(curves, out)
            plots.lift_and_gain(curves, out)
            plots.importances(importances, f"{backend} feature importance (gain)", out)
            plots.importances(
                base_importances, "logistic |standardised coefficient|", out, "baseline_feature_importance.png"
            )
            if found.scores:
                plots.search_results(
                    [", ".join(f"{k}={v}" for k, v in p.as_dict().items()) for p in grid],
                    found.scores,
                    found.best_index,
                    found.method,
                    out,
                )
            mlflow.log_artifacts(tmp, artifact_path="plots")
        mlflow.log_dict(
            {
                "model": [d.__dict__ for d in model_eval.deciles],
                "baseline": [d.__dict__ for d in base_eval.deciles],
            },
            "metrics/deciles.json",
        )
        mlflow.log_dict({"model": importances, "baseline": base_importances}, "metrics/feature_importance.json")
        mlflow.log_dict(leakage, "metrics/single_feature_auc.json")
        version, decision = register_and_promote(model, backend, name, test, model_eval, pcfg.promotion)
        run_id = active.info.run_id
    ds.unpersist()
    return TrainResult(
        label=label,
        backend=backend,
        plan=plan,
        rows=counts,
        best_params=best.as_dict(),
        search_method=found.method,
        model=model_eval,
        baseline=base_eval,
        decision=decision,
        model_name=name,
        model_version=version,
        mlflow_run_id=run_id,
        built_snapshots=built,
    )


def _requirements(backend: str) -> list[str]:
    reqs = ["pyspark==4.1.2"]
    if backend == "xgboost":
        from importlib.metadata import version

        reqs.append(f"xgboost-cpu=={version('xgboost-cpu')}")
    return reqs
