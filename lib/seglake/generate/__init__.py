"""Synthetic landing-zone generator: realistic, dirty, deterministic input data.

`generate_landing` writes the four input sources of the product's input contract (events,
transactions, profiles, reviews) plus ground truth under `_truth/`, entirely with Spark so
it scales to tens of millions of events.
"""

from seglake.generate.landing import OUTPUTS, GenerationSummary, generate_landing, validate
from seglake.generate.personas import PERSONA_NAMES, PERSONAS

__all__ = ["OUTPUTS", "PERSONAS", "PERSONA_NAMES", "GenerationSummary", "generate_landing", "validate"]
