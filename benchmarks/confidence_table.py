"""How well the confidence figure flags gross failures: a table over benchmark rows.

Reads the ``--json`` files of ``benchmarks/global_search.py`` (e.g. ``runs/search/*.json``
from ``benchmarks/search_conditions.sh``) and prints, for each threshold, how many gross
failures (rotation error > 20 degrees) and how many correct results have a confidence below
it: the threshold's recall and its false alarms.

    python benchmarks/confidence_table.py runs/search/*.json
"""

import argparse
import json
from pathlib import Path

import numpy as np

THRESHOLDS = (0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args()
    rows = [row for path in args.files for row in json.loads(path.read_text())["rows"]
            if row["confidence"] is not None]
    gross = np.array([row["rotation_error_deg"] > 20 for row in rows])
    confidence = np.array([row["confidence"] for row in rows])
    print(f"{len(rows)} alignments, {gross.sum()} gross failures (> 20 degrees)")
    print("| confidence below | failures flagged | correct results flagged |")
    print("|---|---|---|")
    for threshold in THRESHOLDS:
        low = confidence < threshold
        print(f"| {threshold:g} | {np.sum(low & gross)}/{gross.sum()} | "
              f"{np.sum(low & ~gross)}/{np.sum(~gross)} |")


if __name__ == "__main__":
    main()
