"""Configuration: YAML in conf/, validated into typed objects."""

from seglake.config.loader import available_envs, default_conf_dir, load_config
from seglake.config.schema import (
    DELTA_PACKAGE,
    CatalogConfig,
    DirtyRates,
    FeaturesConfig,
    GeneratorConfig,
    IngestConfig,
    MlflowConfig,
    PathsConfig,
    QualityConfig,
    QualityRule,
    SeglakeConfig,
    SegmentationConfig,
    SourceConfig,
    SourcesConfig,
    SparkConfig,
)

__all__ = [
    "DELTA_PACKAGE",
    "CatalogConfig",
    "DirtyRates",
    "FeaturesConfig",
    "GeneratorConfig",
    "IngestConfig",
    "MlflowConfig",
    "PathsConfig",
    "QualityConfig",
    "QualityRule",
    "SeglakeConfig",
    "SegmentationConfig",
    "SourceConfig",
    "SourcesConfig",
    "SparkConfig",
    "available_envs",
    "default_conf_dir",
    "load_config",
]
