"""spark-submit entry point: `spark-submit jobs/propensity_train.py --env local ...` (see README)."""

import sys

from seglake.cli import run_job


def main(argv=None) -> int:
    return run_job("propensity-train", argv)


if __name__ == "__main__":
    sys.exit(main())
