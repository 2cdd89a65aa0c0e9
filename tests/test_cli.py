"""The command line: user mistakes end with one line on stderr and exit status 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seglake.cli import main, run_job

ROOT = Path(__file__).resolve().parents[1]


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    return err


def test_unknown_environment(capsys) -> None:
    assert main(["bronze", "--env", "staging"]) == 2
    assert one_line_error(capsys) == (
        "seglake bronze: error: unknown environment 'staging'; choose one of: dev, local, prod "
        f"(files in {ROOT / 'conf'})"
    )


def test_bad_config_file(tmp_path: Path, capsys) -> None:
    conf = tmp_path / "conf"
    conf.mkdir()
    (conf / "base.yml").write_text((ROOT / "conf" / "base.yml").read_text())
    (conf / "local.yml").write_text("spark:\n  drivr_memory: 8g\n")
    assert main(["silver", "--conf-dir", str(conf)]) == 2
    assert "local.yml: spark.drivr_memory: unknown key (did you mean 'driver_memory'?)" in one_line_error(capsys)


def test_missing_landing_folder(spark, tmp_path: Path, capsys) -> None:
    code = run_job("bronze", ["--landing", str(tmp_path / "nope"), "--lake", str(tmp_path / "lake")])
    assert code == 2
    assert one_line_error(capsys).startswith(
        f"seglake bronze: error: landing folder '{tmp_path / 'nope'}' does not exist; run `seglake generate`"
    )


def test_stage_before_its_input_exists(spark, tmp_path: Path, capsys) -> None:
    assert main(["features", "--lake", str(tmp_path / "lake")]) == 2
    assert "run `seglake silver` first" in one_line_error(capsys)


def test_bad_as_of(spark, tmp_path: Path, capsys) -> None:
    assert main(["segments", "--lake", str(tmp_path / "lake"), "--as-of", "yesterday"]) == 2
    assert "as_of 'yesterday' is not a date; use YYYY-MM-DD" in one_line_error(capsys)


def test_jobs_scripts_share_the_cli() -> None:
    """`python jobs/<name>.py --help` works as spark-submit would start it."""
    out = subprocess.run(
        [sys.executable, str(ROOT / "jobs" / "pipeline.py"), "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "--generate" in out and "--landing" in out and "--mlflow-uri" in out
