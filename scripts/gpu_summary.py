"""Summarise a GPU test run (JUnit XML) as Markdown: device, versions, counts per backend."""

from __future__ import annotations

import collections
import datetime
import re
import sys
import xml.etree.ElementTree as ET


def main(junit: str, visible: str) -> int:
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError) as exc:
        print(f"# GPU run, {datetime.date.today().isoformat()}: no test results ({exc})")
        return 1
    counts: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    failures = []
    for case in root.iter("testcase"):
        name = case.get("name", "")
        m = re.search(r"(torch:gpu|jax:gpu|tensorflow:gpu|cupy)", name)
        key = m.group(1) if m else "other"
        if case.find("failure") is not None or case.find("error") is not None:
            counts[key]["failed"] += 1
            failures.append(f"{case.get('classname')}::{name}")
        elif case.find("skipped") is not None:
            counts[key]["skipped"] += 1
        else:
            counts[key]["passed"] += 1
    print(f"# GPU run, {datetime.date.today().isoformat()}\n")
    print("```")
    with open(visible) as f:
        print(f.read().strip())
    print("```\n")
    print("| backend | passed | skipped | failed |\n|---|---|---|---|")
    for key in sorted(counts):
        c = counts[key]
        print(f"| {key} | {c['passed']} | {c['skipped']} | {c['failed']} |")
    if len(sys.argv) > 3:  # pytest's last lines: its own count, or the interruption by the time limit
        with open(sys.argv[3]) as f:
            tail = [line for line in f.read().splitlines() if line.strip()][-2:]
        print("\npytest: " + " / ".join(f"`{t.strip()}`" for t in tail))
    if failures:
        print("\nFailures:\n" + "\n".join(f"- `{f}`" for f in failures))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
