"""Segmentation: recovery of planted personas, stability, co-membership, save/load,
persona matching across runs, transitions, and scoring with the registered model."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.ml import PipelineModel
from pyspark.ml.linalg import Vectors
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from sklearn.metrics import adjusted_rand_score

from seglake.catalog import (
    GOLD_CUSTOMER_FEATURES,
    GOLD_SEGMENT_ASSIGNMENTS,
    GOLD_SEGMENT_PROFILES,
    GOLD_SEGMENT_TRANSITIONS,
    Catalog,
)
from seglake.config.schema import OutlierConfig, SegmentationConfig, StabilityConfig
from seglake.segmentation.model import (
    CLUSTER_COL,
    GMM_JITTER,
    PERSONA_COL,
    PREDICTION_COL,
    Candidate,
    QuantileClipper,
    _nudged,
    adjusted_rand_index,
    choose_k,
    evaluate_k,
    fit_best,
    full_model,
    labelling,
    preprocessing,
)
from seglake.segmentation.personas import PreviousSegment, assign_identities, persona_name, unique_names
from seglake.segmentation.publish import segment_transitions

from conftest import make_config

# Planted personas: (share, orders, basket EUR, days since last visit, mobile share, weekend share, session minutes)
PLANTED = {
    "loyal_high_value": (0.20, 7.0, 150.0, 12.0, 0.10, 0.15, 5.0),
    "bargain_mobile": (0.25, 1.0, 30.0, 20.0, 0.90, 0.30, 2.0),
    "researcher": (0.20, 0.5, 120.0, 15.0, 0.35, 0.30, 25.0),
    "weekend_family": (0.20, 3.0, 70.0, 25.0, 0.20, 0.65, 6.0),
    "churned": (0.15, 1.0, 50.0, 280.0, 0.50, 0.30, 3.0),
}
FEATURES = [
    "orders_365d",
    "monetary_365d",
    "avg_order_value_365d",
    "days_since_last_visit",
    "mobile_share_365d",
    "weekend_share_365d",
    "avg_session_minutes_365d",
]
CFG = SegmentationConfig(
    features=FEATURES,
    log_features=["orders_365d", "monetary_365d", "avg_order_value_365d", "days_since_last_visit"]
    + ["avg_session_minutes_365d"],
    fill_values={"days_since_last_visit": 730.0},
    k_min=4,
    k_max=6,
    seeds=[1, 2],
    n_init=2,
    max_iter=30,
    min_segment_share=0.05,
    stability=StabilityConfig(subsamples=1, subsample_fraction=0.8),
)


def planted_features(spark: SparkSession, n: int, seed: int, as_of: date = date(2025, 6, 1)) -> DataFrame:
    """Feature rows drawn in Spark from the planted personas: log-normal counts and amounts,
    noisy shares, 1% extreme spenders, 3% of baskets missing (imputed by the pipeline)."""
    # Every random draw becomes a column first: a rand() inside a CASE branch is not drawn
    # for every row, which would desynchronise draws meant to be shared.
    draws = spark.range(n, numPartitions=2).select(
        "id", F.rand(seed).alias("u"), *[F.randn(seed * 100 + i).alias(f"z{i}") for i in range(1, 9)]
    )
    persona = F.lit(None).cast("string")
    bound = 0.0
    for name, (share, *_rest) in PLANTED.items():
        bound += share
        persona = F.when(persona.isNull() & (F.col("u") < bound), F.lit(name)).otherwise(persona)
    base = draws.select(
        F.format_string("C%06d", F.col("id")).alias("customer_id"), persona.alias("planted"), *draws.columns[1:]
    )

    def param(i: int) -> Column:
        out = F.lit(None).cast("double")
        for name, values in PLANTED.items():
            out = F.when(F.col("planted") == name, F.lit(values[i])).otherwise(out)
        return out

    def lognormal(i: int, z: str, sigma: float) -> Column:
        return param(i) * F.exp(F.col(z) * sigma)

    def share(i: int, z: str) -> Column:
        return F.least(F.lit(1.0), F.greatest(F.lit(0.0), param(i) + F.col(z) * 0.1))

    orders, aov = lognormal(1, "z1", 0.45), lognormal(2, "z2", 0.4)
    spender = F.when(F.abs(F.col("z8")) > 2.576, F.lit(50.0)).otherwise(F.lit(1.0))  # 1% of customers
    return base.select(
        "customer_id",
        "planted",
        F.lit(as_of).alias("as_of"),
        orders.alias("orders_365d"),
        (orders * aov * spender).alias("monetary_365d"),
        F.when(F.col("z7") < 1.88, aov).alias("avg_order_value_365d"),  # 3% missing
        F.round(lognormal(3, "z3", 0.45)).cast("int").alias("days_since_last_visit"),
        share(4, "z4").alias("mobile_share_365d"),
        share(5, "z5").alias("weekend_share_365d"),
        lognormal(6, "z6", 0.45).alias("avg_session_minutes_365d"),
        F.lit(True).alias("consent_profiling"),
    )


@pytest.fixture(scope="module")
def planted(spark):
    return planted_features(spark, 1000, seed=11).cache()


@pytest.fixture(scope="module")
def selection(planted):
    prep = preprocessing(CFG).fit(planted)
    prepared = prep.transform(planted).select("customer_id", "planted", "features").cache()
    results = [evaluate_k(prepared, k, CFG) for k in range(CFG.k_min, CFG.k_max + 1)]
    chosen, reason = choose_k([c for c, _ in results], CFG.min_segment_share, CFG.min_stability, 0.03)
    return prepared, dict((c.k, m) for c, m in results), [c for c, _ in results], chosen, reason


def test_selection_picks_the_planted_k_and_recovers_the_personas(selection) -> None:
    prepared, models, candidates, chosen, reason = selection
    assert chosen.k == len(PLANTED), reason
    assert reason.startswith("k=5: ")
    assert chosen.seed_stability >= 0.9 and chosen.subsample_stability >= 0.9
    recovered = models[chosen.k].transform(prepared)
    assert adjusted_rand_index(recovered, "planted", CLUSTER_COL) >= 0.8


def test_refit_with_another_seed_agrees_with_the_first_fit(selection) -> None:
    prepared, models, _, chosen, _ = selection
    first = models[chosen.k].transform(prepared).withColumnRenamed(CLUSTER_COL, "first")
    again = fit_best(prepared, CFG, chosen.k, seed=97).transform(first)
    assert adjusted_rand_index(again, "first", CLUSTER_COL) >= 0.9


@pytest.mark.parametrize("algorithm", ["bisecting_kmeans", "gaussian_mixture"])
def test_other_algorithms_through_the_same_config(planted, algorithm: str) -> None:
    cfg = replace(CFG, algorithm=algorithm, n_init=1, stability=StabilityConfig(subsamples=0))
    prepared = preprocessing(cfg).fit(planted).transform(planted).select("planted", "features").cache()
    candidate, model = evaluate_k(prepared, 5, cfg)
    assert sorted(model.summary.clusterSizes)[0] > 0 and candidate.cost > 0
    recovered = model.transform(prepared)
    assert adjusted_rand_index(recovered, "planted", CLUSTER_COL) >= (0.8 if algorithm == "bisecting_kmeans" else 0.4)


def test_spark_ari_matches_scikit_learn(spark) -> None:
    rng = random.Random(3)
    a = [rng.randrange(4) for _ in range(300)]
    b = [x if rng.random() < 0.7 else rng.randrange(5) for x in a]
    df = spark.createDataFrame(list(zip(a, b, strict=True)), "a int, b int")
    assert adjusted_rand_index(df, "a", "b") == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)
    assert adjusted_rand_index(df, "a", "a") == pytest.approx(1.0)


@pytest.fixture(scope="module")
def blobs(spark):
    """Three obvious groups: rare daytime buyers, frequent evening buyers, frequent daytime buyers."""
    rng = random.Random(7)
    rows = []
    for group, (orders, evening) in enumerate([(1, 0.1), (40, 0.9), (40, 0.1)]):
        for i in range(40):
            rows.append(
                (
                    f"{group}-{i}",
                    group,
                    float(orders + rng.uniform(-0.3, 0.3) * orders),
                    min(1.0, max(0.0, evening + rng.uniform(-0.05, 0.05))),
                )
            )
    rows.append(("3-0", 0, 1.0, None))  # a missing share is filled, not dropped
    return spark.createDataFrame(rows, "customer_id string, truth int, orders_365d double, evening_share_365d double")


BLOB_CFG = SegmentationConfig(
    features=["orders_365d", "evening_share_365d"],
    log_features=["orders_365d"],
    fill_values={"evening_share_365d": 0.0},
    k_min=2,
    k_max=5,
    seeds=[1, 2],
    n_init=1,
    max_iter=20,
    min_segment_share=0.05,
    stability=StabilityConfig(subsamples=1),
    outliers=OutlierConfig(lower_quantile=0.0, upper_quantile=1.0),
)


def test_obvious_groups_share_a_cluster(spark, blobs) -> None:
    prep = preprocessing(BLOB_CFG).fit(blobs)
    prepared = prep.transform(blobs).cache()
    results = [evaluate_k(prepared, k, BLOB_CFG) for k in (2, 3, 4)]
    chosen, reason = choose_k([c for c, _ in results], BLOB_CFG.min_segment_share, BLOB_CFG.min_stability)
    assert chosen.k == 3, reason
    assigned = dict((c.k, m) for c, m in results)[3].transform(prepared)
    # co-membership, not raw ids: points of a group share a cluster, groups never share one
    same = assigned.groupBy("truth").agg(F.countDistinct(CLUSTER_COL).alias("clusters"))
    assert [r["clusters"] for r in same.collect()] == [1, 1, 1]
    assert assigned.select(CLUSTER_COL).distinct().count() == 3
    cluster_of = {r["customer_id"]: r[CLUSTER_COL] for r in assigned.where("customer_id like '%-0'").collect()}
    assert cluster_of["3-0"] == cluster_of["0-0"]  # the missing share is imputed, not an outlier
    assert len({cluster_of["0-0"], cluster_of["1-0"], cluster_of["2-0"]}) == 3


def test_save_load_round_trip_keeps_assignments_ids_and_names(spark, blobs, tmp_path: Path) -> None:
    prep = preprocessing(BLOB_CFG).fit(blobs)
    km = fit_best(prep.transform(blobs), BLOB_CFG, 3, seed=1)
    model = full_model(prep, km, labelling({0: 10, 1: 11, 2: 12}, {0: "it's a", 1: "b", 2: "c"}))
    model.write().overwrite().save(str(tmp_path / "model"))
    loaded = PipelineModel.load(str(tmp_path / "model"))
    cols = ["customer_id", PREDICTION_COL, PERSONA_COL]
    before = model.transform(blobs).select(*cols)
    after = loaded.transform(blobs).select(*cols)
    assert_df_equality(before, after, ignore_row_order=True)
    assert {r[PERSONA_COL] for r in after.select(PERSONA_COL).distinct().collect()} == {"it's a", "b", "c"}


def test_quantile_clipper_caps_at_fitted_quantiles(spark) -> None:
    df = spark.createDataFrame([(float(x),) for x in [*range(1, 100), 10_000]], "x double")
    clip = QuantileClipper(inputCols=["x"], lowerQuantile=0.05, upperQuantile=0.95, relativeError=0.0).fit(df)
    out = clip.transform(df).agg(F.min("x__clip").alias("lo"), F.max("x__clip").alias("hi")).first()
    assert (out["lo"], out["hi"]) == (5.0, 95.0)
    # the fitted bounds are part of the stage: new data is clipped the same way
    new = spark.createDataFrame([(-1.0,), (50.0,), (1e9,)], "x double")
    assert [r[0] for r in clip.transform(new).select("x__clip").collect()] == [5.0, 50.0, 95.0]


def test_over_segmentation_and_instability_are_rejected_with_reasons() -> None:
    candidates = [
        Candidate(k=2, silhouette=0.50, cost=10, min_share=0.40, seed_stability=0.95, subsample_stability=0.9),
        Candidate(k=6, silhouette=0.70, cost=5, min_share=0.01, seed_stability=0.95, subsample_stability=0.9),
        Candidate(k=4, silhouette=0.65, cost=6, min_share=0.10, seed_stability=0.95, subsample_stability=0.40),
    ]
    chosen, reason = choose_k(candidates, min_share=0.02, min_stability=0.8)
    assert chosen.k == 2
    assert reason == (
        "k=2: best silhouette 0.500 among acceptable k; rejected k=6: smallest segment 1.0% < 2%, "
        "k=4: stability across sub-samples 0.40 < 0.8"
    )


def test_tolerance_prefers_the_larger_k_that_separates_almost_as_well() -> None:
    candidates = [
        Candidate(k=3, silhouette=0.50, cost=10, min_share=0.2, seed_stability=1.0),
        Candidate(k=5, silhouette=0.48, cost=6, min_share=0.15, seed_stability=1.0),
        Candidate(k=6, silhouette=0.44, cost=5, min_share=0.1, seed_stability=0.9),
    ]
    assert choose_k(candidates, 0.02, 0.8, silhouette_tolerance=0.0)[0].k == 3
    chosen, reason = choose_k(candidates, 0.02, 0.8, silhouette_tolerance=0.03)
    assert chosen.k == 5
    assert reason == "k=5: largest acceptable k with silhouette 0.480 within 0.03 of the best (k=3: 0.500)"


def test_persona_names_come_from_the_distinguishing_features() -> None:
    features = ["monetary_365d", "evening_share_365d", "mobile_share_365d", "days_since_last_visit"]
    assert persona_name(features, [1.8, 0.2, -1.1, -0.9]) == "high spenders, desktop, recently active"
    assert persona_name(features, [0.1, -0.2, 0.3, 0.0]) == "average customers"
    assert unique_names(["a", "b", "a"]) == ["a", "b", "a (2)"]


def test_matching_keeps_ids_and_names_of_continuing_segments() -> None:
    previous = [
        PreviousSegment(0, "frequent buyers", {"orders": 2.0, "mobile": -1.0}),
        PreviousSegment(1, "mobile", {"orders": -0.5, "mobile": 1.5}),
        PreviousSegment(2, "lapsed", {"orders": -1.0, "mobile": 0.0}),
    ]
    # the new run found the same three segments in another order, plus a new one; the
    # old "lapsed" segment moved too far to be the same
    current = [
        {"orders": -0.45, "mobile": 1.45},
        {"orders": 0.0, "mobile": -2.0},
        {"orders": 2.1, "mobile": -0.9},
        {"orders": -1.0, "mobile": 0.2},
    ]
    fresh_names = ["mobile again", "desktop", "frequent buyers", "lapsed"]
    ids, names, matches = assign_identities(fresh_names, [10, 20, 30, 40], current, previous, max_distance=0.5)
    assert matches == [1, None, 0, 2]
    assert ids == [1, 3, 0, 2]
    assert names == ["mobile", "desktop", "frequent buyers", "lapsed"]
    # a new segment never takes a retired id, and a clashing new name is numbered
    ids, names, _ = assign_identities(["lapsed"], [5], [{"orders": 3.0, "mobile": 3.0}], previous, 0.5)
    assert ids == [3] and names == ["lapsed"]
    ids, names, _ = assign_identities(["mobile", "x"], [5, 6], [{"orders": -0.5, "mobile": 1.5}, {}], previous, 0.5)
    assert ids == [1, 3] and names == ["mobile", "x"]


def test_transition_matrix_counts_who_moved_where(spark) -> None:
    schema = "customer_id string, segment_id int, persona string"
    previous = spark.createDataFrame([("a", 0, "p0"), ("b", 0, "p0"), ("c", 1, "p1"), ("d", 1, "p1")], schema)
    current = spark.createDataFrame([("a", 0, "p0"), ("b", 1, "p1"), ("c", 1, "p1"), ("e", 1, "p1")], schema)
    got = segment_transitions(previous, current, date(2025, 2, 1), date(2025, 1, 1))
    expected = spark.createDataFrame(
        [
            (date(2025, 2, 1), date(2025, 1, 1), 0, "p0", 0, "p0", 1, 0.5),
            (date(2025, 2, 1), date(2025, 1, 1), 0, "p0", 1, "p1", 1, 0.5),
            (date(2025, 2, 1), date(2025, 1, 1), 1, "p1", 1, "p1", 1, 0.5),
            (date(2025, 2, 1), date(2025, 1, 1), 1, "p1", None, None, 1, 0.5),  # d left
            (date(2025, 2, 1), date(2025, 1, 1), None, None, 1, "p1", 1, 1.0),  # e entered
        ],
        "as_of date, previous_as_of date, from_segment_id int, from_persona string, to_segment_id int, "
        "to_persona string, customers long, share_of_from double",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    first = segment_transitions(None, current, date(2025, 1, 1), None)
    assert first.where("from_segment_id IS NULL").agg(F.sum("customers")).first()[0] == 4


@pytest.fixture(scope="module")
def two_runs(spark, tmp_path_factory):
    """Train on two monthly snapshots drawn from the same personas, then score a third with
    the registered champion."""
    from seglake.runs import RunContext
    from seglake.segmentation.score import score_segments
    from seglake.segmentation.train import train_segments

    root = tmp_path_factory.mktemp("segments")
    cfg = make_config(root)
    # selection itself is tested above: a narrower k range and no sub-samples keep this quick
    seg = replace(CFG, optional_features=["tablet"], k_min=5, stability=StabilityConfig(subsamples=0))
    cfg = replace(cfg, segmentation=seg)
    catalog = Catalog(cfg.paths.lake)
    snapshots = [date(2025, 5, 1), date(2025, 6, 1), date(2025, 7, 1)]
    for i, as_of in enumerate(snapshots):
        rows = planted_features(spark, 1000, seed=21 + i, as_of=as_of)
        catalog.replace_where(rows, GOLD_CUSTOMER_FEATURES, f"as_of = '{as_of}'")
    run = RunContext(run_id="r1", started_at=datetime(2025, 7, 2))
    first = train_segments(spark, cfg, catalog, run, snapshots[0])
    second = train_segments(spark, cfg, catalog, replace(run, run_id="r2"), snapshots[1])
    scored = score_segments(spark, cfg, catalog, replace(run, run_id="r3"), snapshots[2])
    return cfg, catalog, first, second, scored


def test_second_run_keeps_segment_ids_and_persona_names(spark, two_runs) -> None:
    _, catalog, first, second, _ = two_runs
    assert first.k == second.k == len(PLANTED), (first.reason, second.reason)
    assert first.skipped_features == ["tablet"]
    assert second.kept_from_previous == second.k
    profiles = catalog.read(spark, GOLD_SEGMENT_PROFILES)
    by_date = {
        d: {(r["segment_id"], r["persona"]) for r in profiles.where(F.col("as_of") == d).collect()}
        for d in (first.as_of, second.as_of)
    }
    assert by_date[first.as_of] == by_date[second.as_of]
    # the same planted persona carries the same segment id in both snapshots
    assignments = catalog.read(spark, GOLD_SEGMENT_ASSIGNMENTS)
    features = catalog.read(spark, GOLD_CUSTOMER_FEATURES).select("customer_id", "as_of", "planted")
    majority = (
        assignments.join(features, ["customer_id", "as_of"], "inner")
        .groupBy("as_of", "planted", "segment_id")
        .count()
        .groupBy("as_of", "planted")
        .agg(F.max_by("segment_id", "count").alias("segment_id"))
    )
    per_date = {
        d: {r["planted"]: r["segment_id"] for r in majority.where(F.col("as_of") == d).collect()}
        for d in (first.as_of, second.as_of)
    }
    assert per_date[first.as_of] == per_date[second.as_of]
    assert len(set(per_date[first.as_of].values())) == len(PLANTED)


def test_outputs_carry_lineage_and_transitions_add_up(spark, two_runs) -> None:
    _, catalog, first, second, scored = two_runs
    assignments = catalog.read(spark, GOLD_SEGMENT_ASSIGNMENTS).where(F.col("as_of") == second.as_of)
    row = assignments.agg(
        F.count(F.lit(1)).alias("n"),
        F.min("distance_to_centroid").alias("dmin"),
        F.countDistinct("model_version", "mlflow_run_id", "run_id").alias("lineages"),
        F.first("model_version").alias("version"),
    ).first()
    assert row["n"] == 1000 and row["dmin"] >= 0 and row["lineages"] == 1 and row["version"] == "2"
    profile = catalog.read(spark, GOLD_SEGMENT_PROFILES).where(F.col("as_of") == second.as_of).first()
    assert profile["description"].startswith(f"{profile['share']:.0%} of customers; ")
    assert set(profile["centroid"]) == set(FEATURES) and len(profile["top_features"]) >= 1
    transitions = catalog.read(spark, GOLD_SEGMENT_TRANSITIONS).where(F.col("as_of") == second.as_of)
    # both snapshots hold the same 1000 customer ids: nobody entered or left
    assert transitions.where("from_segment_id IS NULL OR to_segment_id IS NULL").count() == 0
    assert transitions.agg(F.sum("customers")).first()[0] == 1000
    assert str(transitions.first()["previous_as_of"]) == str(first.as_of)
    shares = transitions.groupBy("from_segment_id").agg(F.sum("share_of_from").alias("s")).collect()
    assert all(r["s"] == pytest.approx(1.0) for r in shares)


def test_scoring_uses_the_champion_without_retraining(spark, two_runs) -> None:
    _, catalog, _, second, scored = two_runs
    assert scored.model_version == second.model_version and scored.mlflow_run_id == second.mlflow_run_id
    assert {name for _, name, _ in scored.personas} == {name for _, name, _ in second.personas}
    assignments = catalog.read(spark, GOLD_SEGMENT_ASSIGNMENTS).where(F.col("as_of") == scored.as_of)
    assert assignments.count() == scored.customers == 1000
    assert {r["run_id"] for r in assignments.select("run_id").distinct().collect()} == {"r3"}
    features = catalog.read(spark, GOLD_CUSTOMER_FEATURES).where(F.col("as_of") == scored.as_of)
    recovered = assignments.join(features, "customer_id").select("planted", F.col("segment_id").alias("segment"))
    assert adjusted_rand_index(recovered, "planted", "segment") >= 0.8


def test_the_mixture_is_fitted_on_rows_whose_ties_are_broken(spark) -> None:
    # identical rows (a collapsed component's singular covariance) become distinct, barely moved
    tied = spark.createDataFrame([(Vectors.dense([1.0, 0.0]),)] * 3, ["features"])
    nudged = [r["features"].toArray() for r in _nudged(tied).collect()]
    assert len({tuple(v) for v in nudged}) == 3
    assert all(abs(v[0] - 1.0) <= GMM_JITTER and abs(v[1]) <= GMM_JITTER for v in nudged)
