"""Long fuzz run of the decoders (issue 11): mutated files behind recomputed CRCs, each decoded in a forked child.

    python bench/fuzz_decoders.py [--cases 10000] [--seed 2026] [--minutes 40] [--time-limit 10] [--memory-gb 4]

Prints the outcome counts, peak child memory and the slowest case; failing files go to --keep DIR if given.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from picd_core.testing.fuzz import build_corpus, fuzz  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--minutes", type=float, default=40.0)
    ap.add_argument("--time-limit", type=float, default=10.0, help="CPU seconds per case (x2 for two threads)")
    ap.add_argument("--memory-gb", type=float, default=4.0)
    ap.add_argument("--keep", type=Path, default=None)
    args = ap.parse_args()
    corpus = build_corpus()
    report = fuzz(corpus, seed=args.seed, cases=args.cases, time_budget=args.minutes * 60,
                  time_limit=args.time_limit, memory_limit=int(args.memory_gb * (1 << 30)))
    print(report.summary())
    print("mutations:", report.by_kind)
    for i, (outcome, kind, detail, data) in enumerate(report.failures):
        print(f"  {outcome} after {kind}: {detail}")
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            (args.keep / f"{i:03d}-{outcome}.picd").write_bytes(data)
    return 1 if report.bad else 0


if __name__ == "__main__":
    sys.exit(main())
