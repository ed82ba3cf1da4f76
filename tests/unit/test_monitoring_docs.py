#!/usr/bin/python3
"""Checks the monitoring files in docs/: the Grafana dashboard is valid JSON
with a query per panel, the Prometheus rules are valid YAML in the rule
file format (groups of rules with alert, expr, labels.severity and a
summary), the rules cover what docs/metrics.md promises (lag high, stream
stopped, spool growing, dead letters), and every mcsqueal_* metric either
file names is declared in core/metrics_defs.h (a renamed metric cannot
leave a dead panel or alert behind).

Usage: test_monitoring_docs.py SOURCE_DIR"""

import json
import os
import re
import sys

import yaml  # python3-yaml (scripts/deps)

SUFFIXES = ("_bucket", "_sum", "_count")


def declared(src):
    text = open(os.path.join(src, "core/metrics_defs.h")).read()
    return {"mcsqueal_" + m for m in re.findall(r"^\s*X\((\w+),", text, re.M)}


def used(text):
    out = set()
    for m in re.findall(r"\bmcsqueal_[a-z_]+", text):
        for s in SUFFIXES:
            if m.endswith(s):
                m = m[: -len(s)]
        out.add(m)
    return out


def main():
    src = sys.argv[1]
    known = declared(src)
    problems = []
    dash_text = open(os.path.join(src, "docs/grafana/mcsqueal.json")).read()
    dash = json.loads(dash_text)
    for p in dash["panels"]:
        if not p.get("title") or not p.get("targets") or not all(t.get("expr") for t in p["targets"]):
            problems.append("dashboard panel without a title or a query: %r" % p.get("title"))
    rules_text = open(os.path.join(src, "docs/prometheus/alerts.yml")).read()
    rules = yaml.safe_load(rules_text)
    names = []
    for g in rules["groups"]:
        if not g.get("name") or not g.get("rules"):
            problems.append("rule group without a name or rules")
        for r in g["rules"]:
            names.append(r.get("alert"))
            for field in ("alert", "expr"):
                if not isinstance(r.get(field), str) or not r[field].strip():
                    problems.append("rule %r: no %s" % (r.get("alert"), field))
            if r.get("labels", {}).get("severity") not in ("info", "warning", "critical"):
                problems.append("rule %r: severity info, warning or critical" % r.get("alert"))
            if not r.get("annotations", {}).get("summary"):
                problems.append("rule %r: no summary" % r.get("alert"))
            if r["expr"].count("(") != r["expr"].count(")"):
                problems.append("rule %r: unbalanced parentheses" % r.get("alert"))
    for want in ("InvalidationLagHigh", "BinlogLagHigh", "StreamStopped", "SpoolGrowing",
                 "DeadLetters"):
        if not any(n and n.endswith(want) for n in names):
            problems.append("no alert for %s" % want)
    for what, text in (("dashboard", dash_text), ("alerts", rules_text)):
        for m in sorted(used(text) - known):
            problems.append("%s names %s, which core/metrics_defs.h does not declare" % (what, m))
    for p in problems:
        print("FAIL: " + p)
    print("%d panels, %d alert rules, %d problems" % (len(dash["panels"]), len(names),
                                                      len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
