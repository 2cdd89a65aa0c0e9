"""Batch scoring: every customer of a feature snapshot scored by the `champion` model of
each label, written to gold.propensity_scores (one partition per as_of; a rerun replaces
exactly the rows of that as_of and label)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import mlflow
import mlflow.spark
from mlflow import MlflowClient
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from seglake.catalog import GOLD_CUSTOMER_FEATURES, GOLD_PROPENSITY_SCORES, Catalog
from seglake.config.schema import SeglakeConfig
from seglake.errors import InputError
from seglake.propensity.evaluate import RANK_KEY, decile_bounds, decile_column, rank_key
from seglake.propensity.models import SCORE_COL, score_column
from seglake.propensity.registry import CHAMPION, version_by_alias
from seglake.propensity.train import ODDS_PARAM, ensure_snapshots, model_key
from seglake.propensity.training_set import label_definition
from seglake.runs import RunContext
from seglake.tracking import configure_mlflow, registered_model_name


@dataclass(frozen=True)
class ScoreResult:
    label: str
    as_of: date
    customers: int
    model_name: str
    model_version: str
    mlflow_run_id: str
    mean_score: float


def score_rows(
    snapshot: DataFrame,
    model: PipelineModel,
    odds_factor: float,
    label: str,
    lineage: dict[str, str],
) -> DataFrame:
    """customer_id, as_of, label, score, decile (1 = top 10%) + model lineage."""
    scored = model.transform(snapshot).select("customer_id", "as_of", score_column(odds_factor).alias(SCORE_COL))
    scored = scored.withColumn(RANK_KEY, rank_key(SCORE_COL, F.xxhash64("customer_id"))).cache()
    bounds = decile_bounds(scored)
    return scored.select(
        "customer_id",
        "as_of",
        F.lit(label).alias("label"),
        SCORE_COL,
        decile_column(bounds).alias("decile"),
        *[F.lit(v).alias(k) for k, v in lineage.items()],
    )


def score_snapshot(
    spark: SparkSession,
    cfg: SeglakeConfig,
    catalog: Catalog,
    run: RunContext,
    label: str,
    as_of: date,
    progress: Callable[[str], None] = print,
) -> ScoreResult:
    label_definition(cfg.propensity, label)
    configure_mlflow(cfg.mlflow)
    client = MlflowClient()
    name = registered_model_name(cfg.mlflow, model_key(label))
    champion = version_by_alias(client, name, CHAMPION)
    if champion is None:
        raise InputError(
            f"no registered model {name} with alias '{CHAMPION}'; run `seglake propensity-train` first "
            "(or promote a version: see README, propensity models)"
        )
    ensure_snapshots(spark, cfg, catalog, (as_of,), progress)
    snapshot = catalog.read(spark, GOLD_CUSTOMER_FEATURES).where(F.col("as_of") == F.lit(as_of))
    model = mlflow.spark.load_model(f"models:/{name}/{champion.version}")
    factor = float(client.get_run(champion.run_id).data.params.get(ODDS_PARAM, "1.0"))
    lineage = {
        "model_name": name,
        "model_version": str(champion.version),
        "mlflow_run_id": champion.run_id,
        "run_id": run.run_id,
    }
    rows = score_rows(snapshot, model, factor, label, lineage)
    catalog.replace_where(rows, GOLD_PROPENSITY_SCORES, f"as_of = '{as_of.isoformat()}' AND label = '{label}'")
    summary = (
        catalog.read(spark, GOLD_PROPENSITY_SCORES)
        .where((F.col("as_of") == F.lit(as_of)) & (F.col("label") == label))
        .agg(F.count(F.lit(1)).alias("n"), F.avg(SCORE_COL).alias("mean"))
        .first()
    )
    return ScoreResult(
        label=label,
        as_of=as_of,
        customers=int(summary["n"]),
        model_name=name,
        model_version=str(champion.version),
        mlflow_run_id=champion.run_id,
        mean_score=float(summary["mean"] or 0.0),
    )
