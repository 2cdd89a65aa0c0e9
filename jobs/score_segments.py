"""spark-submit entry point: `spark-submit jobs/score_segments.py --env local ...` (see README)."""

import sys

from seglake.cli import run_job


def main(argv=None) -> int:
    return run_job("score-segments", argv)


if __name__ == "__main__":
    sys.exit(main())
