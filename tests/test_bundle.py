"""bundle.yml (+ resources/*.job.yml) is a valid bundle whose tasks call real jobs."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from seglake.cli import JOBS, build_parser

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT.parent / "shared" / "reference" / "databricks-bundle.schema.json"


def bundle() -> dict:
    doc = yaml.safe_load((ROOT / "bundle.yml").read_text())
    for pattern in doc.get("include", []):
        for path in sorted(ROOT.glob(pattern)):
            for key, value in yaml.safe_load(path.read_text()).items():
                doc.setdefault(key, {})
                for name, item in value.items():
                    doc[key].setdefault(name, {}).update(item)
    return doc


@pytest.mark.skipif(not SCHEMA.is_file(), reason="bundle schema is kept in ../shared/reference")
def test_bundle_matches_the_schema() -> None:
    # The schema's patterns use \p{L}/\p{N}, which Python's re does not know.
    text = SCHEMA.read_text().replace(r"\\p{L}", r"[^\\W\\d_]").replace(r"\\p{N}", r"\\d")
    validator = jsonschema.Draft202012Validator(json.loads(text))
    errors = [f"{list(e.path)}: {e.message[:200]}" for e in validator.iter_errors(bundle())]
    assert errors == []


def test_every_task_runs_a_seglake_job_with_valid_arguments() -> None:
    jobs = bundle()["resources"]["jobs"]
    tasks = [t for job in jobs.values() for t in job["tasks"]]
    assert [t["task_key"] for t in tasks] == [
        "bronze",
        "silver",
        "features",
        "segments",
        "score-segments",
        "propensity-train",
        "propensity-score",
    ]
    for task in tasks:
        params = task["python_wheel_task"]["parameters"]
        assert params[0] in JOBS
        args = build_parser().parse_args(params)  # argparse exits on an unknown flag
        assert args.job == task["task_key"]
