"""How fast the `portal` command starts (issue 23: `portal --help` under 0.6 s).

Runs, alternating, `python -c "import flask"` (the floor: the CLI is Flask's), `portal --help`,
`portal protocol --help` and `portal audit --help`, each as a new process, and prints the median
and the fastest of `--rounds` runs with met / NOT met for `portal --help`. Wall time of a new
process: run it on a quiet machine, or read the fastest run.

Usage:

    .venv/bin/python bench/cli_bench.py [--rounds 9]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_SECONDS = 0.6

PORTAL = str(Path(sys.executable).with_name("portal"))
COMMANDS: dict[str, list[str]] = {
    'python -c "import flask" (floor)': [sys.executable, "-c", "import flask"],
    "portal --help": [PORTAL, "--help"],
    "portal protocol --help": [PORTAL, "protocol", "--help"],
    "portal audit --help": [PORTAL, "audit", "--help"],
}


def _seconds(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, env=env)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as instance:
        env = {**os.environ, "PORTAL_INSTANCE_PATH": instance}
        times: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for _ in range(arguments.rounds):
            for name, command in COMMANDS.items():
                times[name].append(_seconds(command, env))
    print(f"{'command':<36} {'median s':>9} {'fastest s':>10}")
    for name, measured in times.items():
        print(f"{name:<36} {statistics.median(measured):>9.3f} {min(measured):>10.3f}")
    help_median = statistics.median(times["portal --help"])
    verdict = "met" if help_median < TARGET_SECONDS else "NOT met"
    print(f"target: portal --help under {TARGET_SECONDS} s: {help_median:.3f} s, {verdict}")


if __name__ == "__main__":
    main()
