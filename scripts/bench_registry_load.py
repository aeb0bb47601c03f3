"""Cold load time of the registry, measured in fresh interpreter processes.

    python -m scripts.bench_registry_load [--runs N]

Each run starts a new Python and first imports shared.config (every function does, and it brings
pydantic's machinery with it), then times the registry's own share: importing shared.registry,
loading the catalogue, and validating the first model asked for. The goal is under 150 ms.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

GOAL_MS = 150.0
REPO = Path(__file__).resolve().parents[1]

PROBE = """
import json, time
t0 = time.perf_counter()
import shared.config
t1 = time.perf_counter()
import shared.registry as registry
t2 = time.perf_counter()
reg = registry.load_registry()
t3 = time.perf_counter()
registry.get_model(reg.enabled_ids()[0])
t4 = time.perf_counter()
print(json.dumps({"config_ms": (t1 - t0) * 1e3, "import_ms": (t2 - t1) * 1e3,
                  "load_ms": (t3 - t2) * 1e3, "first_model_ms": (t4 - t3) * 1e3,
                  "models": len(reg)}))
"""


def run_once() -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=REPO, capture_output=True, text=True, check=True
    )
    measured: dict[str, float] = json.loads(result.stdout)
    measured["registry_ms"] = (
        measured["import_ms"] + measured["load_ms"] + measured["first_model_ms"]
    )
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args(argv)
    runs = [run_once() for _ in range(max(1, args.runs))]
    for key in ("config_ms", "import_ms", "load_ms", "first_model_ms", "registry_ms"):
        values = [r[key] for r in runs]
        print(f"{key:15s} median {statistics.median(values):7.1f}  max {max(values):7.1f}")
    median = statistics.median(r["registry_ms"] for r in runs)
    verdict = "OK" if median < GOAL_MS else "OVER"
    print(f"registry cold load (import + load + first model): {median:.1f} ms")
    print(f"goal < {GOAL_MS:.0f} ms: {verdict}")
    print(f"models in catalogue: {int(runs[0]['models'])}")
    return 0 if median < GOAL_MS else 1


if __name__ == "__main__":
    sys.exit(main())
