"""Propensity models: point-in-time labels, leakage guard, promotion against a real MLflow
store, scoring idempotence, and a small end-to-end train."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime, timedelta
from pathlib import Path

import mlflow
import pytest
from chispa import assert_df_equality
from mlflow import MlflowClient
from pyspark.sql import functions as F

from seglake.catalog import (
    GOLD_CUSTOMER_FEATURES,
    GOLD_PROPENSITY_SCORES,
    SILVER_EVENTS,
    SILVER_ORDERS,
    SILVER_SESSIONS,
    Catalog,
)
from seglake.config.schema import PropensityLabel, PropensityPromotion
from seglake.errors import ConfigError
from seglake.propensity.evaluate import evaluate
from seglake.propensity.labels import compute_labels, in_window
from seglake.propensity.models import (
    ClassWeights,
    TreeParams,
    baseline_pipeline,
    class_weights,
    fit_pipeline,
    search,
    tree_param_map,
    tree_pipeline,
    with_weights,
)
from seglake.propensity.registry import CHALLENGER, CHAMPION, decide, rollback
from seglake.propensity.score import score_snapshot
from seglake.propensity.train import register_and_promote, scored, train_propensity
from seglake.propensity.training_set import (
    LeakageError,
    SnapshotPlan,
    check_leakage,
    label_definition,
    plan_snapshots,
    training_set,
)
from seglake.runs import RunContext
from seglake.tracking import configure_mlflow

from conftest import make_config

ORDERS_SCHEMA = "order_id string, customer_id string, order_ts timestamp, amount double"
SESSIONS_SCHEMA = "session_id string, customer_id string, session_start timestamp, is_bot boolean, order_placed boolean"
EVENTS_SCHEMA = "session_id string, event string, category string, ts timestamp"
AS_OF = date(2025, 3, 1)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture
def population(spark):
    return spark.createDataFrame(
        [(c, AS_OF) for c in ("before", "at_as_of", "last_second", "at_end", "none")] + [("none", date(2025, 2, 1))],
        "customer_id string, as_of date",
    )


def test_purchase_label_uses_exactly_the_window_after_as_of(spark, population) -> None:
    orders = spark.createDataFrame(
        [
            ("o1", "before", ts("2025-02-28 23:59:59"), 10.0),  # the features saw it: not a label
            ("o2", "at_as_of", ts("2025-03-01 00:00:00"), 10.0),  # first instant the features could not see
            ("o3", "last_second", ts("2025-03-30 23:59:59"), 10.0),  # last instant of 30 days
            ("o4", "at_end", ts("2025-03-31 00:00:00"), 10.0),  # day 31: outside the horizon
            ("o5", "none", ts("2025-02-15 12:00:00"), 10.0),  # inside the window of the Feb snapshot only
        ],
        ORDERS_SCHEMA,
    )
    empty_sessions = spark.createDataFrame([], SESSIONS_SCHEMA)
    empty_events = spark.createDataFrame([], EVENTS_SCHEMA)
    labels = compute_labels(
        population, PropensityLabel(kind="purchase", horizon_days=30), orders, empty_sessions, empty_events
    )
    expected = spark.createDataFrame(
        [
            ("before", AS_OF, 0),
            ("at_as_of", AS_OF, 1),
            ("last_second", AS_OF, 1),
            ("at_end", AS_OF, 0),
            ("none", AS_OF, 0),
            ("none", date(2025, 2, 1), 1),
        ],
        "customer_id string, as_of date, label int",
    )
    assert_df_equality(labels, expected, ignore_row_order=True, ignore_nullable=True)


def test_churn_and_category_purchase_labels(spark) -> None:
    population = spark.createDataFrame(
        [("quiet", AS_OF), ("visits", AS_OF), ("bot_only", AS_OF), ("buys_tv", AS_OF), ("buys_book", AS_OF)],
        "customer_id string, as_of date",
    )
    orders = spark.createDataFrame([("o1", "buys_tv", ts("2025-03-05 10:00:00"), 300.0)], ORDERS_SCHEMA)
    sessions = spark.createDataFrame(
        [
            ("s0", "quiet", ts("2025-02-27 10:00:00"), False, False),  # before as_of: not activity after it
            ("s1", "visits", ts("2025-05-01 10:00:00"), False, False),
            ("s2", "bot_only", ts("2025-03-02 10:00:00"), True, False),
            ("s3", "buys_tv", ts("2025-03-05 09:50:00"), False, True),
            ("s4", "buys_book", ts("2025-03-06 09:50:00"), False, True),
        ],
        SESSIONS_SCHEMA,
    )
    events = spark.createDataFrame(
        [
            ("s3", "Product Added", "Electronics", ts("2025-03-05 09:55:00")),
            ("s4", "Product Added", "books", ts("2025-03-06 09:55:00")),
            ("s4", "Product Viewed", "electronics", ts("2025-03-06 09:51:00")),  # viewed, not carted
        ],
        EVENTS_SCHEMA,
    )
    churn = compute_labels(population, PropensityLabel(kind="churn", horizon_days=90), orders, sessions, events)
    category = compute_labels(
        population,
        PropensityLabel(kind="category_purchase", horizon_days=30, category="electronics"),
        orders,
        sessions,
        events,
    )
    as_dict = {r["customer_id"]: r["label"] for r in churn.collect()}
    assert as_dict == {"quiet": 1, "visits": 0, "bot_only": 1, "buys_tv": 0, "buys_book": 0}
    assert {r["customer_id"]: r["label"] for r in category.collect()} == {
        "quiet": 0,
        "visits": 0,
        "bot_only": 0,
        "buys_tv": 1,
        "buys_book": 0,
    }


def test_snapshot_plan_keeps_every_label_window_observed() -> None:
    cfg = make_config(Path("/nonexistent")).propensity
    cfg = replace(cfg, snapshots=4, snapshot_interval_days=30, test_snapshots=1, validation_snapshots=1)
    plan = plan_snapshots(cfg, horizon_days=30, data_end=date(2026, 1, 1))
    assert plan.test == (date(2025, 12, 2),)
    assert plan.validation == (date(2025, 11, 2),)
    assert plan.train == (date(2025, 9, 3), date(2025, 10, 3))
    assert max(plan.all) + timedelta(days=30) <= date(2026, 1, 1)
    with pytest.raises(Exception, match="label window ends after the newest data"):
        plan_snapshots(replace(cfg, last_as_of="2025-12-15"), horizon_days=30, data_end=date(2026, 1, 1))
    with pytest.raises(ConfigError, match="did you mean 'purchase_30d'"):
        label_definition(cfg, "purchase_30")


def test_a_feature_computed_from_the_label_window_is_caught(spark) -> None:
    rng = random.Random(3)
    customers = [f"C{i}" for i in range(200)]
    plan = SnapshotPlan(train=(date(2025, 2, 1), AS_OF), validation=(), test=(date(2025, 4, 1),))
    order_rows = [
        (f"o{c}-{as_of}", c, datetime.combine(as_of, datetime.min.time()) + timedelta(days=rng.randrange(28)), 10.0)
        for c in customers
        for as_of in plan.all
        if rng.random() < 0.3
    ]
    orders = spark.createDataFrame(order_rows, ORDERS_SCHEMA)
    snapshots = spark.createDataFrame(
        [(c, d, float(rng.random())) for c in customers for d in plan.all],
        "customer_id string, as_of date, noise double",
    )
    # A "feature" built by mistake from the 30 days after as_of instead of before it.
    future = (
        snapshots.alias("s")
        .join(orders.alias("o"), F.col("s.customer_id") == F.col("o.customer_id"), how="left")
        .groupBy("s.customer_id", "s.as_of", "s.noise")
        .agg(F.count(F.when(in_window(F.col("o.order_ts"), F.col("s.as_of"), 30), 1)).alias("orders_next_30d"))
    )
    empty_sessions = spark.createDataFrame([], SESSIONS_SCHEMA)
    empty_events = spark.createDataFrame([], EVENTS_SCHEMA)
    ds = training_set(
        future, orders, empty_sessions, empty_events, PropensityLabel(kind="purchase", horizon_days=30), plan
    )
    assert ds.count() == 200 * 3
    with pytest.raises(LeakageError, match="orders_next_30d"):
        check_leakage(ds.where("split = 'train'"), ["noise", "orders_next_30d"], max_auc=0.95)
    aucs = check_leakage(ds.where("split = 'train'"), ["noise"], max_auc=0.95)
    assert aucs["noise"] < 0.65


def _signal_rows(rng: random.Random, n: int, strength: float) -> list[tuple]:
    rows = []
    for i in range(n):
        x = rng.gauss(0, 1)
        noise = rng.gauss(0, 1)
        label = int(rng.random() < 1 / (1 + pow(2.718, -(strength * x - 1))))
        rows.append((f"C{i}", AS_OF, x, noise, label))
    return rows


def test_promotion_both_ways_against_a_real_mlflow_store(spark, tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    pcfg = replace(cfg.propensity, features=["x", "noise"], log_features=[], fill_values={})
    configure_mlflow(cfg.mlflow)
    rng = random.Random(11)
    schema = "customer_id string, as_of date, x double, noise double, label int"
    train = spark.createDataFrame(_signal_rows(rng, 600, 2.0), schema)
    test = spark.createDataFrame(_signal_rows(rng, 600, 2.0), schema)
    weights, _, _ = class_weights(train, "balanced")
    good_cfg, weak_cfg = pcfg, replace(pcfg, features=["noise"])
    promotion = PropensityPromotion(metric="roc_auc", min_improvement=0.01, min_roc_auc=0.4, max_brier=0.5)
    client = MlflowClient()
    name = "seglake_propensity_test"

    def register(feature_cfg) -> tuple[str, object]:
        pipe, _ = baseline_pipeline(feature_cfg)
        model = fit_pipeline(pipe, with_weights(train, weights), {})
        evaluation = evaluate(scored(model, test, weights.odds_factor))
        with mlflow.start_run():
            mlflow.log_param("score_odds_factor", weights.odds_factor)
            return register_and_promote(model, "logistic", name, test, evaluation, promotion)

    v1, d1 = register(weak_cfg)  # no champion yet: promoted on thresholds alone
    assert d1.promote and "no champion yet" in d1.reason
    v2, d2 = register(good_cfg)  # clearly better on the same test rows: promoted
    assert d2.promote and d2.champion_version == v1 and d2.challenger_value > d2.champion_value + 0.01
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == v2
    v3, d3 = register(weak_cfg)  # worse: stays challenger, champion unchanged
    assert not d3.promote and d3.reason.startswith("kept as challenger")
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == v2
    assert str(client.get_model_version_by_alias(name, CHALLENGER).version) == v3
    assert client.get_model_version(name, v3).tags["seglake.promotion"] == "rejected"
    assert client.get_model_version(name, v3).tags["seglake.previous_champion"] == v2
    rollback(client, name, v1)  # one alias change
    assert str(client.get_model_version_by_alias(name, CHAMPION).version) == v1


def test_thresholds_block_a_model_even_without_a_champion(spark) -> None:
    rows = spark.createDataFrame([(1, 0.4), (0, 0.6), (1, 0.5), (0, 0.5)], "label int, score double")
    weak = evaluate(rows)
    decision = decide(weak, None, PropensityPromotion(min_roc_auc=0.65, max_brier=0.25))
    assert not decision.promote
    assert "roc_auc 0.1250 < min_roc_auc 0.65" in decision.reason


def test_deciles_stay_equal_when_many_scores_tie(spark) -> None:
    # Tree models give whole groups one score; deciles must still split customers 10 ways.
    rows = [(1 if i % 3 == 0 else 0, 0.9 if i < 500 else 0.1) for i in range(1000)]
    ev = evaluate(spark.createDataFrame(rows, "label int, score double"))
    assert [d.customers for d in ev.deciles] == [100] * 10
    assert ev.deciles[-1].cumulative_gain == pytest.approx(1.0)
    assert ev.roc_auc == pytest.approx(0.5, abs=0.01)


def test_search_prefers_depth_when_the_signal_is_an_interaction(spark, tmp_path: Path) -> None:
    rng = random.Random(2)

    def rows(n: int) -> list[tuple]:
        out = []
        for i in range(n):
            a, b = rng.random(), rng.random()
            out.append((f"C{i}", AS_OF, a, b, int(((a > 0.5) != (b > 0.5)) != (rng.random() < 0.1))))
        return out

    schema = "customer_id string, as_of date, x double, noise double, label int"
    pcfg = replace(make_config(tmp_path).propensity, features=["x", "noise"], log_features=[], fill_values={})
    weights = ClassWeights(1.0, 1.0)
    train = with_weights(spark.createDataFrame(rows(400), schema), weights)
    validation = with_weights(spark.createDataFrame(rows(200), schema), weights)
    pipeline, est = tree_pipeline("gbt", pcfg)
    grid = [TreeParams(1, 5, 0.3, 1.0), TreeParams(3, 5, 0.3, 1.0)]
    maps = [tree_param_map("gbt", est, p) for p in grid]
    by_validation = search(pipeline, maps, train, validation, pcfg.search, parallelism=2)
    assert by_validation.best_index == 1 and by_validation.method == "validation snapshots"
    assert by_validation.scores[1] > by_validation.scores[0] + 0.2
    by_cv = search(pipeline, maps, train, None, replace(pcfg.search, cv_folds=2), parallelism=2)
    assert by_cv.best_index == 1 and by_cv.method == "2-fold CV"


# --- end to end on a tiny lake -------------------------------------------------------
SNAPSHOTS = [date(2025, 1, 1) + timedelta(days=30 * i) for i in range(4)]
DATA_END = SNAPSHOTS[-1] + timedelta(days=30)


@pytest.fixture(scope="module")
def tiny_lake(spark, tmp_path_factory):
    """Customers whose buying propensity follows `orders_90d` (and not `noise`); features
    written as gold snapshots, orders as silver facts consistent with them."""
    root = tmp_path_factory.mktemp("propensity")
    cfg = make_config(root)
    pcfg = replace(
        cfg.propensity,
        features=["orders_90d", "noise"],
        log_features=["orders_90d"],
        fill_values={},
        snapshots=4,
        snapshot_interval_days=30,
        build_missing_features=False,
        min_positives=5,
        search=replace(cfg.propensity.search, max_depth=[2], n_trees=[5], baseline_reg_param=[0.0], parallelism=2),
        promotion=replace(cfg.propensity.promotion, min_roc_auc=0.55),
    )
    cfg = replace(cfg, propensity=pcfg)
    catalog = Catalog(cfg.paths.lake)
    rng = random.Random(5)
    features, orders, sessions = [], [], []
    for i in range(150):
        c = f"C{i:03d}"
        rate = rng.choice([0.05, 0.3, 0.9])
        for as_of in SNAPSHOTS + [DATA_END]:
            features.append((c, as_of, int(rate * 6 + rng.random() * 2), rng.random()))
            if as_of < DATA_END and rng.random() < rate:
                when = datetime.combine(as_of, datetime.min.time()) + timedelta(days=rng.randrange(30), hours=5)
                orders.append((f"o{i}-{as_of}", c, when, 20.0))
                sessions.append((f"s{i}-{as_of}", c, when - timedelta(minutes=5), False, True))
    catalog.overwrite(
        spark.createDataFrame(features, "customer_id string, as_of date, orders_90d long, noise double"),
        GOLD_CUSTOMER_FEATURES,
    )
    catalog.overwrite(spark.createDataFrame(orders, ORDERS_SCHEMA), SILVER_ORDERS)
    catalog.overwrite(spark.createDataFrame(sessions, SESSIONS_SCHEMA), SILVER_SESSIONS)
    # The newest event marks how far the facts are observed.
    catalog.overwrite(
        spark.createDataFrame(
            [("s-end", "Page Viewed", None, ts(f"{DATA_END - timedelta(days=1)} 12:00:00"))], EVENTS_SCHEMA
        ),
        SILVER_EVENTS,
    )
    return cfg, catalog


def test_end_to_end_train_then_score_each_snapshot_once(spark, tiny_lake) -> None:
    cfg, catalog = tiny_lake
    first = train_propensity(spark, cfg, catalog, RunContext("r1", datetime(2026, 1, 1)), "purchase_30d", print)
    assert first.plan.test == (SNAPSHOTS[-1],) and first.plan.validation == (SNAPSHOTS[-2],)
    assert first.rows["test"][0] == 150 and first.model.roc_auc > 0.7
    assert first.decision.promote and first.model_version == "1"
    client = MlflowClient()
    run = client.get_run(first.mlflow_run_id)
    assert run.data.metrics["test_roc_auc"] == pytest.approx(first.model.roc_auc)
    assert "baseline_test_roc_auc" in run.data.metrics
    artifacts = {a.path for a in client.list_artifacts(first.mlflow_run_id, "plots")}
    assert {
        "plots/roc.png",
        "plots/reliability.png",
        "plots/lift_gain.png",
        "plots/feature_importance.png",
    } <= artifacts

    for as_of in (SNAPSHOTS[-1], DATA_END):
        score_snapshot(spark, cfg, catalog, RunContext("score-1", datetime(2026, 1, 2)), "purchase_30d", as_of, print)
    again = score_snapshot(
        spark, cfg, catalog, RunContext("score-2", datetime(2026, 1, 3)), "purchase_30d", DATA_END, print
    )
    assert again.customers == 150
    table = catalog.read(spark, GOLD_PROPENSITY_SCORES)
    per_snapshot = {
        (r["as_of"], r["run_id"]): r["n"]
        for r in table.groupBy("as_of", "run_id").count().withColumnRenamed("count", "n").collect()
    }
    # one partition per snapshot; the rerun replaced its snapshot's rows instead of adding to them
    assert per_snapshot == {(SNAPSHOTS[-1], "score-1"): 150, (DATA_END, "score-2"): 150}
    partitions = {p.name for p in Path(catalog.path(GOLD_PROPENSITY_SCORES)).glob("as_of=*")}
    assert partitions == {f"as_of={SNAPSHOTS[-1]}", f"as_of={DATA_END}"}
    deciles = {r["decile"] for r in table.select("decile").distinct().collect()}
    assert deciles <= set(range(1, 11)) and 1 in deciles and 10 in deciles
    row = table.where(F.col("as_of") == F.lit(DATA_END)).first()
    assert (row["label"], row["model_version"], row["mlflow_run_id"]) == ("purchase_30d", "1", first.mlflow_run_id)
    # frequent buyers score higher than rare ones: the score means something
    means = {
        r["high"]: r["s"]
        for r in table.join(
            catalog.read(spark, GOLD_CUSTOMER_FEATURES).select("customer_id", "as_of", "orders_90d"),
            ["customer_id", "as_of"],
        )
        .groupBy((F.col("orders_90d") >= 4).alias("high"))
        .agg(F.avg("score").alias("s"))
        .collect()
    }
    assert means[True] > means[False] + 0.2


def test_logistic_baseline_still_applies_after_the_session_used_an_observation(spark) -> None:
    """An observation anywhere in the session must not break applying the baseline (MLlib
    keeps the SparkSession in the model's training summary, captured by its UDF)."""
    from pyspark.ml import Pipeline
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.feature import VectorAssembler
    from pyspark.sql import Observation

    spark.range(3).observe(Observation("any"), F.count(F.lit(1)).alias("n")).collect()
    data = spark.range(40).select(F.col("id").cast("double").alias("x"), (F.col("id") % 2).cast("double").alias("y"))
    pipeline = Pipeline(
        stages=[VectorAssembler(inputCols=["x"], outputCol="v"), LogisticRegression(featuresCol="v", labelCol="y")]
    )
    model = fit_pipeline(pipeline, data, {})
    assert model.transform(data).count() == 40
