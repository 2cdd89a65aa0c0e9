"""spark-submit entry point: `spark-submit jobs/features.py --env local ...` (see README)."""

import sys

from seglake.cli import run_job


def main(argv=None) -> int:
    return run_job("features", argv)


if __name__ == "__main__":
    sys.exit(main())
