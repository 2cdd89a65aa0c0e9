"""Free-text countries and currencies become ISO codes."""

from __future__ import annotations

from chispa import assert_df_equality
from pyspark.sql import functions as F

from seglake.ingest.reference import country_code, currency_code


def test_country_and_currency_are_normalised_to_iso_codes(spark) -> None:
    df = spark.createDataFrame(
        [(" France ", "fr", "€"), ("Allemagne", "DE", "eur"), ("USA", "", "£"), ("Atlantis", None, "XYZ")],
        "name string, code string, money string",
    )
    got = df.select(
        country_code(F.col("name")).alias("name"), country_code(F.col("code")).alias("code"),
        currency_code(F.col("money")).alias("money"),
    )  # fmt: skip
    expected = spark.createDataFrame(
        [("FR", "FR", "EUR"), ("DE", "DE", "EUR"), ("US", None, "GBP"), ("ATLANTIS", None, "XYZ")],
        "name string, code string, money string",
    )
    assert_df_equality(got, expected, ignore_nullable=True)
