"""gold.customer_features -> k-means segments: model selection, personas, MLflow, gold tables."""

from __future__ import annotations

import difflib
import tempfile
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import mlflow
import mlflow.spark
from mlflow import MlflowClient
from pyspark.ml import PipelineModel
from pyspark.ml.functions import vector_to_array
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.catalog import GOLD_CUSTOMER_FEATURES, GOLD_SEGMENT_ASSIGNMENTS, GOLD_SEGMENT_PROFILES, Catalog
from seglake.config.schema import SeglakeConfig, SegmentationConfig
from seglake.errors import ConfigError, InputError
from seglake.runs import RunContext
from seglake.segmentation import personas, plots
from seglake.segmentation.model import (
    FEATURES_COL,
    PREDICTION_COL,
    Candidate,
    choose_k,
    evaluate_k,
    full_model,
    model_input_column,
    preprocessing,
)
from seglake.tracking import configure_mlflow, registered_model_name

MODEL_NAME = "kmeans"
CHAMPION = "champion"


@dataclass(frozen=True)
class SegmentResult:
    as_of: date
    customers: int
    k: int
    reason: str
    silhouette: float
    personas: list[tuple[int, str, float]]  # segment id, persona, share
    mlflow_run_id: str
    model_name: str
    model_version: str


def segment_population(features: DataFrame, cfg: SegmentationConfig) -> DataFrame:
    if cfg.require_profiling_consent:
        return features.where(F.coalesce(F.col("consent_profiling"), F.lit(False)))
    return features


def _check_features(df: DataFrame, cfg: SegmentationConfig) -> None:
    missing = [f for f in cfg.features if f not in df.columns]
    if missing:
        hints = [f"{m} (did you mean {difflib.get_close_matches(m, df.columns, 1)}?)" for m in missing]
        raise ConfigError(f"segmentation.features: not in gold.customer_features: {', '.join(hints)}")
    unknown = [f for f in list(cfg.log_features) + list(cfg.fill_values) if f not in cfg.features]
    if unknown:
        raise ConfigError(
            f"segmentation: log_features/fill_values name features not in segmentation.features: {unknown}"
        )
    if len(cfg.seeds) < 2:
        raise ConfigError("segmentation.seeds: give at least two seeds so stability can be measured")


def _segment_stats(assigned: DataFrame, inputs: list[str], originals: list[str]) -> tuple[dict, dict]:
    """Per-segment means (model inputs and original units) and population mean/std:
    k rows and one row, the only numbers brought to the driver."""
    per_segment = {
        r[PREDICTION_COL]: r
        for r in assigned.groupBy(PREDICTION_COL)
        .agg(
            F.count(F.lit(1)).alias("customers"),
            *[F.avg(c).alias(f"in::{c}") for c in inputs],
            *[F.avg(c).alias(f"orig::{c}") for c in originals],
        )
        .collect()
    }
    population = (
        assigned.agg(
            *[F.avg(c).alias(f"mean::{c}") for c in inputs], *[F.stddev_pop(c).alias(f"std::{c}") for c in inputs]
        )
        .first()
        .asDict()
    )
    return per_segment, population


def with_centroid_distance(assigned: DataFrame, centers: list[list[float]]) -> DataFrame:
    """Euclidean distance (in model space) from each customer to its segment's centre."""
    centre_table = F.array(*[F.array(*[F.lit(float(x)) for x in c]) for c in centers])
    centre = F.element_at(centre_table, F.col(PREDICTION_COL) + 1)
    vec = vector_to_array(F.col(FEATURES_COL))
    squared = F.aggregate(F.zip_with(vec, centre, lambda a, b: (a - b) * (a - b)), F.lit(0.0), lambda acc, x: acc + x)
    return assigned.withColumn("distance_to_centroid", F.sqrt(squared))


def train_segments(
    spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, run: RunContext, as_of: date
) -> SegmentResult:
    seg = cfg.segmentation
    catalog.require(spark, (GOLD_CUSTOMER_FEATURES,), "features")
    snapshot = catalog.read(spark, GOLD_CUSTOMER_FEATURES).where(F.col("as_of") == F.lit(as_of))
    _check_features(snapshot, seg)
    population = segment_population(snapshot, seg).cache()
    customers = population.count()
    if customers < seg.k_max * 10:
        raise InputError(
            f"only {customers} customers with profiling consent at as_of={as_of}; "
            f"k-means up to k={seg.k_max} needs at least {seg.k_max * 10}"
        )

    prep = preprocessing(seg).fit(population)
    prepared = prep.transform(population).select("customer_id", FEATURES_COL)
    if seg.sample_fraction_for_selection < 1.0:
        prepared = prepared.sample(fraction=seg.sample_fraction_for_selection, seed=seg.seeds[0])
    prepared = prepared.cache()

    experiment_id = configure_mlflow(cfg.mlflow)
    model_name = registered_model_name(cfg.mlflow, MODEL_NAME)
    with mlflow.start_run(experiment_id=experiment_id, run_name=f"segments-{as_of}") as active:
        mlflow.set_tags({"seglake.run_id": run.run_id, "seglake.as_of": as_of.isoformat(), "seglake.env": cfg.env})
        mlflow.log_params(
            {
                "as_of": as_of.isoformat(),
                "customers": customers,
                "features": ",".join(seg.features),
                "log_features": ",".join(seg.log_features),
                "scaler": seg.scaler,
                "k_range": f"{seg.k_min}-{seg.k_max}",
                "seeds": ",".join(map(str, seg.seeds)),
                "max_iter": seg.max_iter,
                "min_segment_share": seg.min_segment_share,
                "min_stability": seg.min_stability,
            }
        )
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
                },
                step=k,
            )
        chosen, reason = choose_k(candidates, seg.min_segment_share, seg.min_stability)
        prepared.unpersist()
        model = full_model(prep, fitted[chosen.k])
        mlflow.log_params({"chosen_k": chosen.k})
        mlflow.set_tag("seglake.k_reason", reason)
        mlflow.log_metrics({"chosen_silhouette": chosen.silhouette, "chosen_stability_ari": chosen.stability})

        assigned = model.transform(population)
        inputs = [model_input_column(f, seg) for f in seg.features]
        per_segment, pop = _segment_stats(assigned, inputs, list(seg.features))
        segment_ids = sorted(per_segment)
        z = [
            [
                (per_segment[s][f"in::{c}"] - pop[f"mean::{c}"]) / pop[f"std::{c}"] if pop[f"std::{c}"] else 0.0
                for c in inputs
            ]
            for s in segment_ids
        ]
        names = personas.unique_names([personas.persona_name(seg.features, zs) for zs in z])
        shares = [per_segment[s]["customers"] / customers for s in segment_ids]

        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            plots.model_selection(candidates, chosen.k, out)
            plots.segment_sizes(names, shares, out)
            plots.centroid_heatmap(names, list(seg.features), z, out)
            mlflow.log_artifacts(tmp, artifact_path="plots")
        info = mlflow.spark.log_model(
            model,
            artifact_path="model",
            registered_model_name=model_name,
            pip_requirements=["pyspark==4.1.2"],
        )
        version = str(info.registered_model_version)
        MlflowClient().set_registered_model_alias(model_name, CHAMPION, version)
        run_id = active.info.run_id

    lineage = {"model_name": model_name, "model_version": version, "mlflow_run_id": run_id, "run_id": run.run_id}
    persona_of = F.create_map(*[F.lit(x) for s, n in zip(segment_ids, names, strict=True) for x in (s, n)])[
        F.col(PREDICTION_COL)
    ]
    centers = [list(c) for c in fitted[chosen.k].clusterCenters()]
    rows = with_centroid_distance(assigned, centers).select(
        "customer_id",
        F.lit(as_of).alias("as_of"),
        F.col(PREDICTION_COL).alias("segment_id"),
        persona_of.alias("persona"),
        "distance_to_centroid",
        *[F.lit(v).alias(k) for k, v in lineage.items()],
    )
    catalog.replace_where(rows, GOLD_SEGMENT_ASSIGNMENTS, f"as_of = '{as_of.isoformat()}'")
    profiles = spark.createDataFrame(
        [
            (
                as_of,
                s,
                names[i],
                int(per_segment[s]["customers"]),
                shares[i],
                {f: float(per_segment[s][f"orig::{f}"] or 0.0) for f in seg.features},
                [
                    f"{f} {'+' if zv > 0 else ''}{zv:.1f}σ"
                    for f, zv in personas.distinguishing(seg.features, z[i], top=5)
                ],
                *lineage.values(),
            )
            for i, s in enumerate(segment_ids)
        ],
        "as_of date, segment_id int, persona string, customers long, share double, "
        "centroid map<string,double>, top_features array<string>, "
        "model_name string, model_version string, mlflow_run_id string, run_id string",
    )
    catalog.replace_where(profiles, GOLD_SEGMENT_PROFILES, f"as_of = '{as_of.isoformat()}'")
    population.unpersist()
    return SegmentResult(
        as_of=as_of,
        customers=customers,
        k=chosen.k,
        reason=reason,
        silhouette=chosen.silhouette,
        personas=[(s, names[i], shares[i]) for i, s in enumerate(segment_ids)],
        mlflow_run_id=run_id,
        model_name=model_name,
        model_version=version,
    )


def load_champion(cfg: SeglakeConfig) -> PipelineModel:
    """The registered segmentation model currently aliased `champion`."""
    configure_mlflow(cfg.mlflow)
    return mlflow.spark.load_model(f"models:/{registered_model_name(cfg.mlflow, MODEL_NAME)}@{CHAMPION}")
