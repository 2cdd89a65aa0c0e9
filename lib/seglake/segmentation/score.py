"""Score a feature snapshot with a registered segmentation model (by alias), no retraining.

The registered pipeline carries everything: imputation values, clipping bounds, scaler,
centres, and the segment ids and persona names it was published with.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import mlflow
import mlflow.spark
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from seglake.catalog import GOLD_CUSTOMER_FEATURES, Catalog
from seglake.config.schema import SeglakeConfig
from seglake.errors import InputError
from seglake.runs import RunContext
from seglake.segmentation.model import (
    PERSONA_COL,
    PREDICTION_COL,
    clustering_stage,
    model_features,
    with_centroid_distance,
)
from seglake.segmentation.publish import (
    assignment_rows,
    previous_as_of,
    profile_rows,
    segment_population,
    segment_stats,
    write_outputs,
)
from seglake.segmentation.train import MODEL_NAME
from seglake.tracking import configure_mlflow, registered_model_name


@dataclass(frozen=True)
class ScoreResult:
    as_of: date
    customers: int
    model_name: str
    model_version: str
    alias: str
    mlflow_run_id: str
    personas: list[tuple[int, str, float]]
    previous_as_of: date | None
    moved: int


def score_segments(
    spark: SparkSession, cfg: SeglakeConfig, catalog: Catalog, run: RunContext, as_of: date
) -> ScoreResult:
    seg = cfg.segmentation
    alias = seg.score_alias
    configure_mlflow(cfg.mlflow)
    name = registered_model_name(cfg.mlflow, MODEL_NAME)
    try:
        version = MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        raise InputError(
            f"no segmentation model {name} with alias '{alias}' in {cfg.mlflow.tracking_uri}; "
            "run `seglake segments` first (or set segmentation.score_alias)"
        ) from None
    model = mlflow.spark.load_model(f"models:/{name}@{alias}")
    features = model_features(model)

    catalog.require(spark, (GOLD_CUSTOMER_FEATURES,), "features")
    snapshot = catalog.read(spark, GOLD_CUSTOMER_FEATURES).where(F.col("as_of") == F.lit(as_of))
    missing = [f for f in features if f not in snapshot.columns]
    if missing:
        raise InputError(f"gold.customer_features lacks features model {name} v{version.version} needs: {missing}")
    population = segment_population(snapshot, seg).select("customer_id", *features)
    scored = with_centroid_distance(model.transform(population), clustering_stage(model)).cache()
    customers = scored.count()
    if customers == 0:
        raise InputError(f"no customers to score at as_of={as_of}; run `seglake features --as-of {as_of}` first")

    stats = segment_stats(scored, PREDICTION_COL, features)
    persona_of = {
        int(r[PREDICTION_COL]): r["p"]
        for r in scored.groupBy(PREDICTION_COL).agg(F.first(PERSONA_COL).alias("p")).collect()
    }
    names = [persona_of[s] for s in stats.keys]
    lineage = {
        "model_name": name,
        "model_version": str(version.version),
        "mlflow_run_id": version.run_id,
        "run_id": run.run_id,
    }
    before = previous_as_of(spark, catalog, as_of)
    profiles = profile_rows(spark, as_of, stats, stats.keys, names, features, lineage, seg.personas)
    moved = write_outputs(spark, catalog, as_of, assignment_rows(scored, as_of, lineage), profiles)
    scored.unpersist()
    return ScoreResult(
        as_of=as_of,
        customers=customers,
        model_name=name,
        model_version=str(version.version),
        alias=alias,
        mlflow_run_id=version.run_id,
        personas=[(s, names[i], stats.shares()[i]) for i, s in enumerate(stats.keys)],
        previous_as_of=before,
        moved=moved,
    )
