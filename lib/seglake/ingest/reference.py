"""Small reference tables for normalising free-text country and currency values.

Sources send "France", "fr", "FRA" or "Allemagne" for the same field; silver stores ISO
codes so rules, features and joins agree. Unknown values pass through upper-cased (a
quality rule can then warn or quarantine them).
"""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F

# lower-cased name or ISO3 code -> ISO 3166-1 alpha-2 (English and French names)
COUNTRY_ALIASES: dict[str, str] = {
    "france": "FR", "fra": "FR",
    "germany": "DE", "allemagne": "DE", "deutschland": "DE", "deu": "DE",
    "spain": "ES", "espagne": "ES", "españa": "ES", "esp": "ES",
    "italy": "IT", "italie": "IT", "italia": "IT", "ita": "IT",
    "belgium": "BE", "belgique": "BE", "bel": "BE",
    "switzerland": "CH", "suisse": "CH", "che": "CH",
    "netherlands": "NL", "pays-bas": "NL", "nld": "NL",
    "united kingdom": "GB", "uk": "GB", "royaume-uni": "GB", "great britain": "GB", "gbr": "GB",
    "united states": "US", "usa": "US", "états-unis": "US", "etats-unis": "US",
    "canada": "CA", "can": "CA",
    "portugal": "PT", "prt": "PT",
    "luxembourg": "LU", "lux": "LU",
}  # fmt: skip

# symbol or lower-cased name -> ISO 4217
CURRENCY_ALIASES: dict[str, str] = {
    "€": "EUR", "euro": "EUR", "euros": "EUR",
    "$": "USD", "us$": "USD", "dollar": "USD",
    "£": "GBP", "pound": "GBP",
    "c$": "CAD", "chf": "CHF", "fr.": "CHF",
}  # fmt: skip


def _lookup(aliases: dict[str, str], value: Column) -> Column:
    cleaned = F.lower(F.trim(value))
    table = F.create_map(*[F.lit(x) for pair in aliases.items() for x in pair])
    return F.when(F.trim(value) != "", F.coalesce(table[cleaned], F.upper(F.trim(value))))


def country_code(value: Column) -> Column:
    return _lookup(COUNTRY_ALIASES, value)


def currency_code(value: Column) -> Column:
    return _lookup(CURRENCY_ALIASES, value)
