"""Build the shop project with dbt and keep each command's artifacts (runs in dbt's own venv).

    python run_dbt.py PROJECT_DIR OUT_DIR [--broken]

Runs `dbt seed`, `dbt run` and `dbt test` in one process and copies `target/run_results.json`
and `target/manifest.json` after `run` and after `test` to OUT_DIR/run and OUT_DIR/test.
Failing models and tests are expected; only an unusable project makes this exit non-zero.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from dbt.cli.main import dbtRunner


def main(project: Path, out: Path, broken: bool) -> int:
    os.environ["SHOP_DUCKDB_PATH"] = str(out / "shop.duckdb")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    target = out / "target"
    common = [
        "--project-dir",
        str(project),
        "--profiles-dir",
        str(project),
        "--target-path",
        str(target),
        "--log-path",
        str(out / "logs"),
        "--vars",
        f"{{broken: {str(broken).lower()}}}",
    ]
    runner = dbtRunner()
    for command in ("seed", "run", "test"):
        result = runner.invoke([command, *common])
        if result.exception is not None:
            print(f"dbt {command} could not run: {result.exception}", file=sys.stderr)
            return 2
        if command != "seed":
            keep = out / command
            keep.mkdir(parents=True, exist_ok=True)
            for name in ("run_results.json", "manifest.json"):
                shutil.copy(target / name, keep / name)
    return 0


if __name__ == "__main__":
    args = sys.argv[1:]
    sys.exit(main(Path(args[0]), Path(args[1]), "--broken" in args[2:]))
