"""Run every benchmark (or the ones named on the command line) and print one JSON document."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

from benchmarks import backfill, capitalone, ingest, monitoring, normalize, rules, serving, training

BENCHMARKS: dict[str, Callable[[], dict[str, Any]]] = {
    "ingest": ingest.run,
    "normalize": normalize.run,
    "rules": rules.run,
    "training": training.run,
    "capitalone": capitalone.run,
    "monitoring": monitoring.run,
    "serving": serving.run,
    "backfill": backfill.run,
}


def main(argv: list[str]) -> int:
    """Run the selected benchmarks; unknown names are an error."""
    names = argv or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        sys.stderr.write(f"unknown benchmark(s): {', '.join(unknown)}; know {list(BENCHMARKS)}\n")
        return 2
    results = {name: BENCHMARKS[name]() for name in names}
    sys.stdout.write(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
