"""Supervised propensity scores: point-in-time labels, training sets over past snapshots,
GBT / XGBoost models against a logistic baseline, MLflow registry and batch scoring."""
