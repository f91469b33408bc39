"""Formats the TIME/CHECK lines of bench/peers/run into Markdown tables (stdlib only).

Time ratios are the peer's time over ours for the same spec and operation, measured in the same
run (x3.0 means the peer takes three times as long per message).
"""

import sys
from collections import OrderedDict

times = OrderedDict()
checks = OrderedDict()
loads = []
for line in sys.stdin:
    parts = line.rstrip("\n").split("\t")
    if parts[0] == "TIME":
        _, imp, spec, op, ns, note = parts
        times[(imp, spec, op)] = (float(ns), note)
    elif parts[0] == "CHECK":
        _, imp, spec, case, verdict = parts
        checks.setdefault((imp, spec), OrderedDict())[case] = verdict
    elif parts[0] == "LOAD":
        loads.append(parts[1])

print(f"load average (1/5/15 min) before: {loads[0]}; after: {loads[-1]}\n")
print("| implementation | spec | operation | ns/msg | msg/s | x ours | note |")
print("|---|---|---|---:|---:|---:|---|")
for (imp, spec, op), (ns, note) in times.items():
    base_op = "encode" if op == "encode" else "decode"
    base = times.get(("ours", spec, base_op))
    ratio = f"x{ns / base[0]:.1f}" if base else ""
    print(f"| {imp} | {spec} | {op} | {ns:,.0f} | {1e9 / ns:,.0f} | {ratio} | {note} |")

cases = []
for verdicts in checks.values():
    for c in verdicts:
        if c not in cases:
            cases.append(c)
print("\nWhat each decoder does with the same hostile variants (valid must be accepted, every other "
      "rejected):\n")
print("| implementation | spec | " + " | ".join(cases) + " |")
print("|---|---|" + "---|" * len(cases))
for (imp, spec), verdicts in checks.items():
    print(f"| {imp} | {spec} | " + " | ".join(verdicts.get(c, "") for c in cases) + " |")
