"""bronze transactions / profiles / reviews -> silver (pure transforms).

Column names are first translated with the source mapping from conf/, so everything
after `canonical_columns` speaks seglake's canonical names.
"""

from __future__ import annotations

from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from seglake.contract import REQUIRED_COLUMNS
from seglake.errors import InputError
from seglake.ingest.quality import with_reasons
from seglake.ingest.reference import country_code, currency_code

LINEAGE = ("_record_id", "_source_file", "_run_id", "_ingested_at")
REVIEW_SCHEMA = """
    review_id STRING, customer_id STRING, product_id STRING, timestamp STRING,
    rating STRING, text STRING, language STRING, _corrupt_record STRING
"""


def canonical_columns(bronze: DataFrame, source: str, wanted: tuple[str, ...], mapping: Mapping[str, str]) -> DataFrame:
    """Select `wanted` canonical columns, reading each from its mapped source name.
    A required column absent from the files is a configuration mistake: say which."""
    present = set(bronze.columns)
    cols = []
    for name in wanted:
        src = mapping.get(name, name)
        if src in present:
            cols.append(F.col(f"`{src}`").alias(name))
        elif name in REQUIRED_COLUMNS.get(source, ()):
            raise InputError(
                f"{source}: column '{src}' (canonical '{name}') not found in the files; "
                f"columns present: {', '.join(sorted(c for c in present if not c.startswith('_')))}. "
                f"Map it under sources.{source}.columns in conf/"
            )
        else:
            cols.append(F.lit(None).cast("string").alias(name))
    return bronze.select(*cols, *LINEAGE)


def _blank(c: Column) -> Column:
    return c.isNull() | (F.trim(c) == "")


def validate_orders(orders: DataFrame, future_tolerance_hours: int) -> DataFrame:
    """Add `_reasons`; "future" is relative to when the row was received."""
    ts = F.try_to_timestamp(F.trim("order_ts"))
    amount = F.trim("amount").try_cast("decimal(18,2)")
    rules = {
        "missing_order_id": _blank(F.col("order_id")),
        "missing_customer_id": _blank(F.col("customer_id")),
        "invalid_timestamp": ts.isNull(),
        "future_timestamp": ts > F.col("_ingested_at") + F.expr(f"INTERVAL {future_tolerance_hours} HOURS"),
        "invalid_amount": amount.isNull() | (amount < 0),
    }
    return with_reasons(orders, rules)


def type_orders(valid: DataFrame) -> DataFrame:
    return valid.select(
        F.trim("order_id").alias("order_id"),
        F.trim("customer_id").alias("customer_id"),
        F.try_to_timestamp(F.trim("order_ts")).alias("order_ts"),
        F.trim("amount").try_cast("decimal(18,2)").alias("amount"),
        F.coalesce(currency_code(F.col("currency")), F.lit("EUR")).alias("currency"),
        F.coalesce(F.lower(F.trim("channel")), F.lit("unknown")).alias("channel"),
        F.trim("items").try_cast("int").alias("items"),
        *LINEAGE,
    ).withColumn("order_date", F.to_date("order_ts"))


def _truthy(c: Column) -> Column:
    return F.lower(F.trim(c)).isin("true", "1", "yes", "y", "oui")


def pseudonymise(c: Column, secret: str) -> Column:
    """Keyed hash of a normalised PII value: joins still work, the value is gone."""
    return F.when(~_blank(c), F.sha2(F.concat(F.lit(secret), F.lower(F.trim(c))), 256))


def validate_profiles(profiles: DataFrame) -> DataFrame:
    rules = {
        "missing_customer_id": _blank(F.col("customer_id")),
        "invalid_updated_at": F.try_to_timestamp(F.trim("updated_at")).isNull(),
    }
    return with_reasons(profiles, rules)


def type_profiles(valid: DataFrame, pii_secret: str) -> DataFrame:
    """E-mail, phone and names pseudonymised, consent typed."""
    return valid.select(
        F.trim("customer_id").alias("customer_id"),
        pseudonymise(F.col("email"), pii_secret).alias("email_hash"),
        pseudonymise(F.regexp_replace("phone", r"[^0-9+]", ""), pii_secret).alias("phone_hash"),
        pseudonymise(F.concat_ws(" ", "first_name", "last_name"), pii_secret).alias("name_hash"),
        F.try_to_date(F.trim("birth_date")).alias("birth_date"),
        F.upper(F.trim("gender")).alias("gender"),
        F.initcap(F.trim("city")).alias("city"),
        F.trim("postal_code").alias("postal_code"),
        country_code(F.col("country")).alias("country"),
        F.trim("income_band").alias("income_band"),
        F.trim("household_size").try_cast("int").alias("household_size"),
        _truthy(F.col("consent_marketing")).alias("consent_marketing"),
        _truthy(F.col("consent_profiling")).alias("consent_profiling"),
        F.try_to_timestamp(F.trim("updated_at")).alias("updated_at"),
        *LINEAGE,
    )


def parse_reviews(bronze: DataFrame) -> DataFrame:
    parsed = F.from_json("_raw", REVIEW_SCHEMA, {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": "_corrupt_record"})
    return bronze.select("_raw", *LINEAGE, parsed.alias("r")).select("_raw", *LINEAGE, "r.*")


def validate_reviews(reviews: DataFrame) -> DataFrame:
    rating = F.col("rating").try_cast("int")
    malformed = F.col("_corrupt_record").isNotNull()
    rules = {
        "malformed_json": malformed,
        "missing_review_id": ~malformed & _blank(F.col("review_id")),
        "missing_customer_id": ~malformed & _blank(F.col("customer_id")),
        "invalid_timestamp": ~malformed & F.try_to_timestamp(F.trim("timestamp")).isNull(),
        "invalid_rating": ~malformed & (rating.isNull() | ~rating.between(1, 5)),
    }
    return with_reasons(reviews, rules)


def type_reviews(valid: DataFrame, max_text_length: int) -> DataFrame:
    return valid.select(
        F.trim("review_id").alias("review_id"),
        F.trim("customer_id").alias("customer_id"),
        F.trim("product_id").alias("product_id"),
        F.try_to_timestamp(F.trim("timestamp")).alias("review_ts"),
        F.col("rating").try_cast("int").alias("rating"),
        F.substring(F.trim("text"), 1, max_text_length).alias("text"),
        F.lower(F.trim("language")).alias("language"),
        "_raw",
        *LINEAGE,
    )
