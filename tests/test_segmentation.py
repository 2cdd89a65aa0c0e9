"""k-means pipeline: model selection on obvious clusters, ARI, personas, save/load."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import pytest
from pyspark.ml import PipelineModel
from pyspark.sql import functions as F
from sklearn.metrics import adjusted_rand_score

from seglake.config.schema import SegmentationConfig
from seglake.segmentation.model import (
    PREDICTION_COL,
    adjusted_rand_index,
    ari_from_contingency,
    choose_k,
    evaluate_k,
    full_model,
    preprocessing,
)
from seglake.segmentation.personas import persona_name, unique_names

CFG = SegmentationConfig(
    features=["orders_365d", "evening_share_365d"],
    log_features=["orders_365d"],
    fill_values={"evening_share_365d": 0.0},
    k_min=2,
    k_max=5,
    seeds=[1, 2],
    max_iter=20,
    min_segment_share=0.05,
)


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


def test_ari_matches_scikit_learn() -> None:
    rng = random.Random(3)
    a = [rng.randrange(4) for _ in range(300)]
    b = [x if rng.random() < 0.7 else rng.randrange(4) for x in a]
    counts: dict[tuple[int, int], int] = {}
    for x, y in zip(a, b, strict=True):
        counts[(x, y)] = counts.get((x, y), 0) + 1
    assert ari_from_contingency(counts) == pytest.approx(adjusted_rand_score(a, b), abs=1e-12)


def test_model_selection_finds_the_obvious_groups(spark, blobs) -> None:
    prep = preprocessing(CFG).fit(blobs)
    prepared = prep.transform(blobs).cache()
    results = [evaluate_k(prepared, k, CFG) for k in range(CFG.k_min, CFG.k_max + 1)]
    chosen, reason = choose_k([c for c, _ in results], CFG.min_segment_share, CFG.min_stability)
    assert chosen.k == 3, reason
    assert chosen.stability == pytest.approx(1.0)
    model = dict((c.k, m) for c, m in results)[3]
    assigned = model.transform(prepared)
    # co-membership, not raw ids: every group maps to exactly one cluster and vice versa
    pairs = assigned.where("customer_id != '3-0'").select("truth", PREDICTION_COL).distinct()
    assert pairs.count() == 3
    assert pairs.select("truth").distinct().count() == 3 and pairs.select(PREDICTION_COL).distinct().count() == 3
    assert adjusted_rand_index(assigned.where("customer_id != '3-0'"), "truth", PREDICTION_COL) == pytest.approx(1.0)
    # the customer with a missing evening share lands with its rare-buyer group
    lone = assigned.where("customer_id = '3-0'").first()[PREDICTION_COL]
    group0 = assigned.where("customer_id = '0-1'").first()[PREDICTION_COL]
    assert lone == group0


def test_over_segmentation_is_rejected() -> None:
    from seglake.segmentation.model import Candidate

    candidates = [
        Candidate(k=2, silhouette=0.50, cost=10, min_share=0.40, stability=0.95),
        Candidate(k=6, silhouette=0.70, cost=5, min_share=0.01, stability=0.95),  # a 1% segment
        Candidate(k=4, silhouette=0.65, cost=6, min_share=0.10, stability=0.40),  # unstable
    ]
    chosen, reason = choose_k(candidates, min_share=0.02, min_stability=0.8)
    assert chosen.k == 2
    assert reason == (
        "k=2: best silhouette 0.500 among acceptable k; rejected k=6: smallest segment 1.0% < 2%, "
        "k=4: stability 0.40 < 0.8"
    )


def test_save_load_round_trip(spark, blobs, tmp_path: Path) -> None:
    cfg = replace(CFG, k_min=3, k_max=3)
    prep = preprocessing(cfg).fit(blobs)
    _, km = evaluate_k(prep.transform(blobs), 3, cfg)
    model = full_model(prep, km)
    model.write().overwrite().save(str(tmp_path / "model"))
    loaded = PipelineModel.load(str(tmp_path / "model"))
    before = model.transform(blobs).select("customer_id", F.col(PREDICTION_COL).alias("before"))
    after = loaded.transform(blobs).select("customer_id", F.col(PREDICTION_COL).alias("after"))
    assert before.join(after, "customer_id").where("before != after").count() == 0


def test_persona_names_come_from_the_distinguishing_features() -> None:
    features = ["monetary_365d", "evening_share_365d", "mobile_share_365d", "recency_days"]
    assert persona_name(features, [1.8, 0.2, -1.1, -0.9]) == "high spenders, desktop, recent buyers"
    assert persona_name(features, [0.1, -0.2, 0.3, 0.0]) == "average customers"
    assert unique_names(["a", "b", "a"]) == ["a", "b", "a (2)"]
