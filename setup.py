"""Packaging for seglake: the importable library lives in lib/seglake."""

from setuptools import find_packages, setup

# Versions known to install and run together (Spark 4.1 line; Delta 4.4 is the newest
# Delta whose Spark-4.1 jar is published). Keep the Python wheel and the jar on the
# same Delta version: the jar coordinate lives in conf/base.yml.
INSTALL_REQUIRES = [
    "pyspark==4.1.2",
    "delta-spark==4.4.0",
    "mlflow==3.17.2",
    "pyyaml>=6.0,<7",
    "pandas>=2.2,<3",
    "numpy>=1.26,<3",
    "pyarrow>=15",
    "matplotlib>=3.8,<4",
    # xgboost.spark backend for propensity models. 3.4.1 needs Python >= 3.12; on older
    # Pythons 3.2.0 is the newest release (same xgboost.spark API, checked on pyspark 4.1).
    "xgboost-cpu==3.4.1; python_version >= '3.12'",
    "xgboost-cpu==3.2.0; python_version < '3.12'",
]

TEST_REQUIRES = [
    "pytest>=8",
    "chispa==0.12.0",
    "scikit-learn>=1.4,<2",
    "ruff>=0.6",
    "jsonschema>=4",
]

setup(
    name="seglake",
    version="0.1.0",
    description="Audience segmentation on Spark and Delta Lake",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    package_dir={"": "lib"},
    packages=find_packages("lib"),
    include_package_data=True,
    package_data={"seglake": ["py.typed", "resources/*"]},
    install_requires=INSTALL_REQUIRES,
    extras_require={"test": TEST_REQUIRES},
    entry_points={"console_scripts": ["seglake = seglake.cli:main"]},
)
