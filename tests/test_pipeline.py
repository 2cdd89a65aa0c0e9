"""The whole DAG on generated data: real Delta tables, a real MLlib model, a real MLflow run."""

from __future__ import annotations

import mlflow
import pytest
from mlflow import MlflowClient
from pyspark.sql import functions as F

from seglake.catalog import (
    ALL_TABLES,
    GOLD_CUSTOMER_FEATURES,
    GOLD_PROPENSITY_SCORES,
    GOLD_RUN_METRICS,
    GOLD_SEGMENT_ASSIGNMENTS,
    GOLD_SEGMENT_PROFILES,
    SILVER_EVENTS,
    Catalog,
)
from seglake.pipeline import JobContext, run_pipeline
from seglake.runs import RunContext
from seglake.segmentation.train import load_champion

from conftest import make_config

# Written by their own jobs (propensity-train / propensity-score), not by `pipeline`.
NOT_IN_PIPELINE = (GOLD_PROPENSITY_SCORES,)


@pytest.fixture(scope="module")
def demo(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("pipeline")
    cfg = make_config(
        root,
        **{
            "generator.customers": 600,
            "generator.events": 40000,
            "generator.customers_per_chunk": 300,
            "segmentation.k_max": 6,
            "segmentation.seeds": [1, 2],
            # The pipeline is under test here, not model selection: fewer refits.
            "segmentation.n_init": 2,
            "segmentation.stability.subsamples": 1,
        },
    )
    catalog = Catalog(cfg.paths.lake)
    ctx = JobContext(spark, cfg, catalog, RunContext.start(), progress=lambda _: None)
    lines = run_pipeline(ctx, generate=True)
    return cfg, catalog, ctx, lines


def test_every_table_is_written(spark, demo) -> None:
    _, catalog, _, lines = demo
    text = "\n".join(lines)
    for t in ALL_TABLES:
        if t in NOT_IN_PIPELINE:
            continue
        assert catalog.exists(spark, t), t.qualified_name
        assert t.qualified_name in text
    assert catalog.read(spark, SILVER_EVENTS).count() > 30000


def test_segments_are_assigned_with_lineage(spark, demo) -> None:
    _, catalog, _, lines = demo
    assignments = catalog.read(spark, GOLD_SEGMENT_ASSIGNMENTS)
    features = catalog.read(spark, GOLD_CUSTOMER_FEATURES)
    consenting = features.where("consent_profiling").count()
    assert assignments.count() == consenting > 300
    row = assignments.agg(
        F.countDistinct("segment_id").alias("k"),
        F.countDistinct("mlflow_run_id").alias("runs"),
        F.min("distance_to_centroid").alias("min_distance"),
        F.sum(F.col("persona").isNull().cast("int")).alias("unnamed"),
    ).first()
    assert 2 <= row["k"] <= 6 and row["runs"] == 1 and row["min_distance"] >= 0 and row["unnamed"] == 0
    profiles = catalog.read(spark, GOLD_SEGMENT_PROFILES)
    assert profiles.count() == row["k"]
    assert profiles.agg(F.sum("share")).first()[0] == pytest.approx(1.0)
    assert any(line.startswith("MLflow run ") for line in lines)


def test_mlflow_run_and_champion_model(spark, demo) -> None:
    cfg, catalog, _, _ = demo
    run_id = catalog.read(spark, GOLD_SEGMENT_ASSIGNMENTS).first()["mlflow_run_id"]
    mlflow.set_tracking_uri(cfg.mlflow.tracking_uri)
    run = MlflowClient().get_run(run_id)
    assert {"silhouette", "cost", "min_share", "stability_ari"} <= set(run.data.metrics)
    assert run.data.params["chosen_k"] == str(catalog.read(spark, GOLD_SEGMENT_PROFILES).count())
    artifacts = {a.path for a in MlflowClient().list_artifacts(run_id, "plots")}
    assert artifacts == {"plots/model_selection.png", "plots/segment_sizes.png", "plots/centroid_heatmap.png"}
    # Scoring with the registered champion reproduces the written assignments.
    model = load_champion(cfg)
    features = catalog.read(spark, GOLD_CUSTOMER_FEATURES).where("consent_profiling")
    rescored = model.transform(features).select("customer_id", F.col("segment_id").alias("rescored"))
    written = catalog.read(spark, GOLD_SEGMENT_ASSIGNMENTS).select("customer_id", "segment_id")
    assert written.join(rescored, "customer_id").where("segment_id != rescored").count() == 0


def test_run_metrics_are_recorded(spark, demo) -> None:
    _, catalog, ctx, _ = demo
    stages = {
        r["stage"]
        for r in catalog.read(spark, GOLD_RUN_METRICS)
        .where(F.col("run_id") == ctx.run.run_id)
        .select("stage")
        .collect()
    }
    assert stages == {"bronze", "silver", "features", "segments"}


def test_rerunning_the_pipeline_changes_no_table(spark, demo) -> None:
    """Idempotence: bronze ingests nothing new, silver and the feature snapshot come out the same."""
    cfg, catalog, _, _ = demo
    watched = (SILVER_EVENTS, GOLD_CUSTOMER_FEATURES)
    before = {t.name: catalog.read(spark, t).drop("_ingested_at").localCheckpoint() for t in watched}
    second = JobContext(spark, cfg, catalog, RunContext.start(), progress=lambda _: None)
    run_pipeline(second, generate=False)
    for t in watched:
        after = catalog.read(spark, t).drop("_ingested_at")
        assert after.count() == before[t.name].count()
        assert after.exceptAll(before[t.name]).count() == 0, t.qualified_name
