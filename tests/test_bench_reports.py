"""bench/report_load.py still runs: a small smoke form (40 people, 2 months, 3 requests each), not
a measurement. The recorded figures are in bench/README.md."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "report_load.py"


def test_report_benchmark_smoke(database_url: str) -> None:
    small = ["--users", "40", "--months", "2", "--requests", "3", "--no-record"]
    done = subprocess.run(
        [sys.executable, str(BENCH), *small],
        capture_output=True,
        text=True,
        env=dict(os.environ, DATABASE_URL=database_url),
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "6,800 transactions" in done.stdout
    for kind in ("statement json", "balance as_of", "spend by user (company)", "budgets (company)"):
        assert kind in done.stdout
