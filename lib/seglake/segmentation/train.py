"""gold.customer_features -> segments: model selection, personas, MLflow, gold tables."""

from __future__ import annotations

import difflib
import json
import logging
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path

import mlflow
import mlflow.spark
from mlflow import MlflowClient
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.catalog import GOLD_CUSTOMER_FEATURES, Catalog
from seglake.config.schema import SeglakeConfig, SegmentationConfig
from seglake.errors import ConfigError, InputError
from seglake.runs import RunContext
from seglake.segmentation import personas, plots
from seglake.segmentation.model import (
    CLUSTER_COL,
    FEATURES_COL,
    Candidate,
    choose_k,
    evaluate_k,
    fit_best,
    full_model,
    labelling,
    preprocessing,
    selected_features,
    with_centroid_distance,
)
from seglake.segmentation.publish import (
    assignment_rows,
    previous_as_of,
    previous_segments,
    profile_rows,
    segment_population,
    segment_stats,
    write_outputs,
)
from seglake.tracking import configure_mlflow, registered_model_name

MODEL_NAME = "kmeans"
CHAMPION = "champion"
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentResult:
    as_of: date
    customers: int
    k: int
    reason: str
    silhouette: float
    stability: float
    personas: list[tuple[int, str, float]]  # segment id, persona, share
    mlflow_run_id: str
    model_name: str
    model_version: str
    alias: str = CHAMPION
    features: list[str] = field(default_factory=list)
    skipped_features: list[str] = field(default_factory=list)
    kept_from_previous: int = 0  # segments matched to the previous snapshot's (same id and name)
    previous_as_of: date | None = None
    moved: int = 0  # customers whose segment differs from the previous snapshot's (or who entered)


def check_config(df: DataFrame, cfg: SegmentationConfig) -> None:
    missing = [f for f in cfg.features if f not in df.columns]
    if missing:
        hints = [f"{m} (did you mean {difflib.get_close_matches(m, df.columns, 1)}?)" for m in missing]
        raise ConfigError(f"segmentation.features: not in gold.customer_features: {', '.join(hints)}")
    known = set(cfg.features) | set(cfg.optional_features)
    unknown = [f for f in [*cfg.log_features, *cfg.fill_values, *cfg.weights] if f not in known]
    if unknown:
        raise ConfigError(
            f"segmentation: log_features/fill_values/weights name features not in segmentation.features "
            f"or optional_features: {unknown}"
        )
    if len(cfg.seeds) < 2:
        raise ConfigError("segmentation.seeds: give at least two seeds so stability can be measured")
    if not 2 <= cfg.k_min <= cfg.k_max:
        raise ConfigError(f"segmentation: need 2 <= k_min <= k_max, got k_min={cfg.k_min}, k_max={cfg.k_max}")
    if not 0.0 <= cfg.outliers.lower_quantile < cfg.outliers.upper_quantile <= 1.0:
        raise ConfigError("segmentation.outliers: need 0 <= lower_quantile < upper_quantile <= 1")
    if not 0.0 < cfg.stability.subsample_fraction <= 1.0:
        raise ConfigError("segmentation.stability.subsample_fraction: need a share in (0, 1]")


def _params(seg: SegmentationConfig, features: list[str], as_of: date, customers: int) -> dict[str, object]:
    return {
        "as_of": as_of.isoformat(),
        "customers": customers,
        "features": ",".join(features),
        "log_features": ",".join(f for f in seg.log_features if f in features),
        "fill_values": json.dumps(seg.fill_values, sort_keys=True),
        "weights": json.dumps(seg.weights, sort_keys=True),
        "scaler": seg.scaler,
        "algorithm": seg.algorithm,
        "k_range": f"{seg.k_min}-{seg.k_max}",
        "seeds": ",".join(map(str, seg.seeds)),
        "n_init": seg.n_init,
        "init_steps": seg.init_steps,
        "max_iter": seg.max_iter,
        "tol": seg.tol,
        "min_segment_share": seg.min_segment_share,
        "min_stability": seg.min_stability,
        "silhouette_tolerance": seg.silhouette_tolerance,
        "outlier_quantiles": f"{seg.outliers.lower_quantile}-{seg.outliers.upper_quantile}",
        "subsamples": seg.stability.subsamples,
        "subsample_fraction": seg.stability.subsample_fraction,
        "sample_fraction_for_selection": seg.sample_fraction_for_selection,
    }


def train_segments(
    spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, run: RunContext, as_of: date
) -> SegmentResult:
    seg = cfg.segmentation
    catalog.require(spark, (GOLD_CUSTOMER_FEATURES,), "features")
    snapshot = catalog.read(spark, GOLD_CUSTOMER_FEATURES).where(F.col("as_of") == F.lit(as_of))
    check_config(snapshot, seg)
    features, skipped = selected_features(seg, snapshot.columns)
    if skipped:
        log.warning("segmentation: optional features not in gold.customer_features, skipped: %s", skipped)
    population = segment_population(snapshot, seg).select("customer_id", *features).cache()
    customers = population.count()
    if customers < seg.k_max * 10:
        raise InputError(
            f"only {customers} customers with profiling consent at as_of={as_of}; "
            f"k-means up to k={seg.k_max} needs at least {seg.k_max * 10}"
        )

    prep = preprocessing(seg, features).fit(population)
    prepared_all = prep.transform(population).select("customer_id", FEATURES_COL)
    sampled = seg.sample_fraction_for_selection < 1.0
    prepared = (
        prepared_all.sample(fraction=seg.sample_fraction_for_selection, seed=seg.seeds[0]) if sampled else prepared_all
    ).cache()

    experiment_id = configure_mlflow(cfg.mlflow)
    model_name = registered_model_name(cfg.mlflow, MODEL_NAME)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"segments-{as_of}") as active:
        mlflow.set_tags({"seglake.run_id": run.run_id, "seglake.as_of": as_of.isoformat(), "seglake.env": cfg.env})
        mlflow.log_params(_params(seg, features, as_of, customers))
        if skipped:
            mlflow.set_tag("seglake.skipped_optional_features", ",".join(skipped))
        candidates: list[Candidate] = []
        fitted = {}
        for k in range(seg.k_min, seg.k_max + 1):
            candidate, km = evaluate_k(prepared, k, seg)
            candidates.append(candidate)
            fitted[k] = km
            mlflow.log_metrics(
                {
                    "silhouette": candidate.silhouette,
                    "cost": candidate.cost,
                    "min_share": candidate.min_share,
                    "stability_ari": candidate.stability,
                    "stability_seeds_ari": candidate.seed_stability,
                    "stability_subsamples_ari": candidate.subsample_stability,
                },
                step=k,
            )
        chosen, reason = choose_k(candidates, seg.min_segment_share, seg.min_stability, seg.silhouette_tolerance)
        log.info("segmentation as_of %s: %s", as_of, reason)
        prepared.unpersist()
        clustering = fitted[chosen.k]
        if sampled:
            clustering = fit_best(prepared_all, seg, chosen.k, seg.seeds[0])
        mlflow.log_params({"chosen_k": chosen.k})
        mlflow.set_tag("seglake.k_reason", reason)
        mlflow.log_metrics(
            {
                "chosen_silhouette": chosen.silhouette,
                "chosen_stability_ari": chosen.stability,
                "chosen_stability_seeds_ari": chosen.seed_stability,
                "chosen_stability_subsamples_ari": chosen.subsample_stability,
            }
        )

        assigned = full_model(prep, clustering).transform(population).cache()
        stats = segment_stats(assigned, CLUSTER_COL, features)
        names = [personas.persona_name(features, z, seg.personas.max_words, seg.personas.threshold) for z in stats.z]
        before = previous_as_of(spark, catalog, as_of)
        previous = previous_segments(spark, catalog, before)
        segment_ids, names, matches = personas.assign_identities(
            names, stats.sizes, stats.z_maps(features), previous, seg.personas.match_max_distance
        )
        label = labelling(dict(zip(stats.keys, segment_ids, strict=True)), dict(zip(stats.keys, names, strict=True)))
        model = full_model(prep, clustering, label)
        kept = sum(m is not None for m in matches)
        mlflow.log_metrics({"segments_kept_from_previous": kept})

        order = sorted(range(len(segment_ids)), key=lambda i: segment_ids[i])
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            plots.model_selection(candidates, chosen.k, seg.min_stability, out / "plots")
            plots.segment_sizes([names[i] for i in order], [stats.shares()[i] for i in order], out / "plots")
            plots.centroid_heatmap([names[i] for i in order], features, [stats.z[i] for i in order], out / "plots")
            mlflow.log_artifacts(str(out / "plots"), artifact_path="plots")
            selection = {
                "chosen_k": chosen.k,
                "reason": reason,
                "candidates": [{**asdict(c), "stability": c.stability} for c in candidates],
                "segments": [
                    {"segment_id": segment_ids[i], "persona": names[i], "customers": stats.sizes[i]} for i in order
                ],
            }
            (out / "selection.json").write_text(json.dumps(selection, indent=2))
            mlflow.log_artifact(str(out / "selection.json"))
        info = mlflow.spark.log_model(
            model,
            artifact_path="model",
            registered_model_name=model_name,
            pip_requirements=["pyspark==4.1.2"],
        )
        version = str(info.registered_model_version)
        MlflowClient().set_registered_model_alias(model_name, seg.register_alias, version)
        run_id = active.info.run_id

    lineage = {"model_name": model_name, "model_version": version, "mlflow_run_id": run_id, "run_id": run.run_id}
    scored = with_centroid_distance(label.transform(assigned), clustering)
    profiles = profile_rows(spark, as_of, stats, segment_ids, names, features, lineage, seg.personas)
    moved = write_outputs(spark, catalog, as_of, assignment_rows(scored, as_of, lineage), profiles)
    assigned.unpersist()
    population.unpersist()
    return SegmentResult(
        as_of=as_of,
        customers=customers,
        k=chosen.k,
        reason=reason,
        silhouette=chosen.silhouette,
        stability=chosen.stability,
        personas=[(segment_ids[i], names[i], stats.shares()[i]) for i in order],
        mlflow_run_id=run_id,
        model_name=model_name,
        model_version=version,
        alias=seg.register_alias,
        features=features,
        skipped_features=skipped,
        kept_from_previous=kept,
        previous_as_of=before,
        moved=moved,
    )


def load_champion(cfg: SeglakeConfig, alias: str = CHAMPION) -> PipelineModel:
    """The registered segmentation model currently carrying `alias`."""
    configure_mlflow(cfg.mlflow)
    return mlflow.spark.load_model(f"models:/{registered_model_name(cfg.mlflow, MODEL_NAME)}@{alias}")
