"""docs/operations.md and the Grafana dashboard stay true to chatweb/prometheus.py."""

from __future__ import annotations

import json
import re

from prometheus_client import REGISTRY

from chatweb import prometheus
from tests.servers import ROOT

OPERATIONS = (ROOT / "docs" / "operations.md").read_text()
DASHBOARD = json.loads((ROOT / "docs" / "grafana" / "chatweb.json").read_text())
OURS = [
    prometheus.ANSWERS_IN_FLIGHT, prometheus.ANSWERS, prometheus.TIME_TO_FIRST_TOKEN,
    prometheus.UPSTREAM_ERRORS, prometheus.TOKENS, prometheus.DATABASE_ERRORS,
    prometheus.CHANNEL_LAYER_ERRORS, prometheus.SOCKETS_OPEN,
]  # fmt: skip


def exposed_names() -> set[str]:
    return {sample.name for family in REGISTRY.collect() for sample in family.samples}


def test_every_metric_is_documented_with_its_type_and_labels():
    for metric in OURS:
        family = next(iter(metric.describe()))
        name = family.name + ("_total" if family.type == "counter" else "")
        row = re.search(rf"^\| `{name}` \| {family.type} \|([^|]*)\|", OPERATIONS, re.M)
        assert row, f"{name} is not in docs/operations.md's table"
        for label in metric._labelnames:
            assert f"`{label}`" in row[1], (name, label)


def test_the_dashboard_imports_and_queries_only_metrics_that_exist():
    assert DASHBOARD["title"] == "Chatweb"
    assert DASHBOARD["__inputs"][0]["pluginId"] == "prometheus"
    queried = {
        name
        for panel in DASHBOARD["panels"]
        for target in panel["targets"]
        for name in re.findall(r"\b((?:chatweb|process)_[a-z_]+)", target["expr"])
    }
    assert queried
    names = exposed_names() | {m + "_bucket" for m in exposed_names()}
    # Labelled counters show no sample before their first count: their family names count.
    names |= {f.name + "_total" for m in OURS for f in m.describe()}
    names |= {f.name + "_bucket" for m in OURS for f in m.describe()}
    assert queried <= names, queried - names
    assert "docs/grafana/chatweb.json" in OPERATIONS or "grafana/chatweb.json" in OPERATIONS
