"""Declarative data-quality rules: compile, count, quarantine, warn, fail."""

from __future__ import annotations

import threading
from datetime import datetime
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglake.catalog import SILVER_EVENTS, SILVER_ORDERS, SILVER_QUARANTINE, Catalog
from seglake.config.schema import QualityRule
from seglake.errors import ConfigError
from seglake.ingest.bronze import ingest_bronze
from seglake.ingest.rules import DataQualityError, check_rules, count_violations, with_rule_violations
from seglake.ingest.silver import build_silver, run_stages, source_dependencies, stage_order
from seglake.runs import RunContext

from conftest import make_config
from landing import small_landing

RULES = [
    QualityRule("no_id", "id", "not_null"),
    QualityRule("price_range", "price", "range", min=0, max=100),
    QualityRule("device", "device", "accepted_values", values=["mobile", "desktop"], action="warn"),
    QualityRule("code", "code", "regex", pattern="^[A-Z]{2}$", action="warn"),
    QualityRule("short", "code", "max_length", length=3, action="warn"),
    QualityRule("known", "id", "exists_in", reference="silver.profiles.customer_id", action="warn"),
]


def test_each_check_flags_exactly_the_breaking_rows(spark) -> None:
    df = spark.createDataFrame(
        [
            ("C1", 10.0, "mobile", "FR"),
            (None, 10.0, "mobile", "FR"),  # no id
            ("C2", -1.0, "tv", "fra"),  # below range, unknown device, bad code
            ("C3", None, None, "TOOLONG"),  # nulls pass range/values; too long; bad code
        ],
        "id string, price double, device string, code string",
    )
    profiles = spark.createDataFrame([("C1",), ("C3",)], "customer_id string")
    got = with_rule_violations(df, RULES, {"silver.profiles": profiles}).select(
        "id", F.array_join("_rule_violations", ",").alias("broken")
    )
    expected = spark.createDataFrame(
        [("C1", ""), (None, "no_id"), ("C2", "price_range,device,code,known"), ("C3", "code,short")],
        "id string, broken string",
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    counts = {
        o.rule.name: o.violations
        for o in count_violations(with_rule_violations(df, RULES, {"silver.profiles": profiles}), RULES)
    }
    assert counts == {"no_id": 1, "price_range": 1, "device": 1, "code": 2, "short": 1, "known": 1}


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (QualityRule("r", "nope", "not_null"), "quality.events rule 'r': column 'nope' does not exist"),
        (QualityRule("r", "price", "range"), "check 'range' needs min and/or max"),
        (QualityRule("r", "price", "regex", pattern="(["), "invalid regex '(['"),
        (QualityRule("r", "price", "exists_in", reference="profiles"), "needs reference: <layer>.<table>.<column>"),
    ],
)
def test_rules_that_cannot_run_are_config_errors(rule: QualityRule, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace("[", r"\[")):
        check_rules("events", [rule], ["price", "id"])


def test_duplicate_rule_names_are_rejected() -> None:
    with pytest.raises(ConfigError, match="rule names must be unique, repeated: r"):
        check_rules("events", [QualityRule("r", "id", "not_null"), QualityRule("r", "id", "not_null")], ["id"])


def _lake(spark, root: Path, quality: dict) -> tuple:
    small_landing(root)
    cfg = make_config(root, **{f"quality.{k}": v for k, v in quality.items()})
    catalog = Catalog(cfg.paths.lake)
    run = RunContext("run-q", datetime(2025, 6, 1))
    ingest_bronze(spark, cfg, catalog, run)
    return cfg, catalog, run


def test_quarantine_and_warn_rules_in_a_silver_run(spark, tmp_path: Path) -> None:
    cfg, catalog, run = _lake(
        spark,
        tmp_path,
        {
            "events": [],
            "transactions": [
                {"name": "big_order", "column": "amount", "check": "range", "max": 20, "action": "quarantine"},
                {
                    "name": "store_sale",
                    "column": "channel",
                    "check": "accepted_values",
                    "values": ["web"],
                    "action": "warn",
                },
            ],  # fmt: skip
            "profiles": [],
            "reviews": [],
        },
    )
    result = build_silver(spark, cfg, catalog, run)
    # O1 (42.50) breaks the quarantine rule; O2 (store) is only warned about and kept.
    orders = catalog.read(spark, SILVER_ORDERS).select("order_id")
    assert [r[0] for r in orders.collect()] == ["O2"]
    quarantined = catalog.read(spark, SILVER_QUARANTINE).where("source = 'transactions'")
    reasons = quarantined.select(F.array_join("reasons", ",").alias("reasons"))
    assert sorted(r["reasons"] for r in reasons.collect()) == ["big_order", "invalid_amount", "missing_customer_id"]
    assert {o.rule.name: o.violations for o in result.rule_outcomes} == {"big_order": 1, "store_sale": 2}
    counts = {s.source: s for s in result.sources}["transactions"]
    assert counts.silver_rows + counts.quarantined_rows + counts.duplicates_removed == counts.bronze_rows


def test_a_fail_rule_stops_the_run_before_writing(spark, tmp_path: Path) -> None:
    cfg, catalog, run = _lake(
        spark,
        tmp_path,
        {"events": [{"name": "no_bots_allowed", "column": "user_agent", "check": "regex",
                     "pattern": "^Mozilla", "action": "fail"}]},
    )  # fmt: skip
    with pytest.raises(
        DataQualityError, match=r"silver events: rule\(s\) with action fail: 'no_bots_allowed' broken by 1 rows"
    ):
        build_silver(spark, cfg, catalog, run)
    assert not catalog.exists(spark, SILVER_EVENTS)


def _exists_in(reference: str) -> QualityRule:
    return QualityRule(f"in_{reference}", "customer_id", "exists_in", reference=reference, action="warn")


def test_sources_run_after_the_silver_tables_their_rules_read() -> None:
    rules = {
        "profiles": [],
        "transactions": [_exists_in("silver.profiles.customer_id")],
        # its own table and a bronze table are no dependency
        "reviews": [_exists_in("silver.orders.customer_id"), _exists_in("silver.reviews.customer_id")],
        "events": [_exists_in("bronze.profiles.customer_id")],
    }
    deps = source_dependencies(rules)
    assert deps == {"profiles": set(), "transactions": {"profiles"}, "reviews": {"transactions"}, "events": set()}
    assert stage_order(deps) == ["profiles", "events", "transactions", "reviews"]


def test_rules_reading_each_others_tables_are_a_config_error() -> None:
    rules = {
        "profiles": [],
        "transactions": [_exists_in("silver.reviews.customer_id")],
        "reviews": [_exists_in("silver.orders.customer_id")],
        "events": [],
    }
    with pytest.raises(ConfigError, match="references of transactions, reviews form a cycle"):
        stage_order(source_dependencies(rules))


def test_independent_stages_run_side_by_side_and_dependents_wait() -> None:
    other_done = threading.Event()
    ran: list[str] = []

    def first() -> None:
        # Only possible when "other" runs beside this stage, not after it.
        assert other_done.wait(timeout=30), "the independent stage did not run alongside"
        ran.append("first")

    def dependent() -> None:
        ran.append("dependent")

    def other() -> None:
        ran.append("other")
        other_done.set()

    stages = {"first": first, "dependent": dependent, "other": other}
    run_stages(stages, {"first": set(), "dependent": {"first"}, "other": set()})
    assert ran == ["other", "first", "dependent"]


def test_a_failed_stage_stops_its_dependents_not_the_others() -> None:
    ran: list[str] = []

    def broken() -> None:
        raise ConfigError("broken stage")

    stages = {"broken": broken, "dependent": lambda: ran.append("dependent"), "other": lambda: ran.append("other")}
    with pytest.raises(ConfigError, match="broken stage"):
        run_stages(stages, {"broken": set(), "dependent": {"broken"}, "other": set()})
    assert ran == ["other"]


def test_a_reference_cycle_fails_before_a_full_refresh_drops_silver(spark, tmp_path: Path) -> None:
    cfg, catalog, run = _lake(spark, tmp_path, {})
    build_silver(spark, cfg, catalog, run)
    cyclic = make_config(
        tmp_path,
        **{
            "quality.transactions": [
                {"name": "r", "column": "customer_id", "check": "exists_in", "reference": "silver.reviews.customer_id"}
            ],
            "quality.reviews": [
                {"name": "o", "column": "customer_id", "check": "exists_in", "reference": "silver.orders.customer_id"}
            ],
        },
    )
    with pytest.raises(ConfigError, match="form a cycle"):
        build_silver(spark, cyclic, catalog, run, full_refresh=True)
    assert catalog.read(spark, SILVER_ORDERS).count() > 0
