"""docs/metrics.md documents exactly the metrics that observability/metrics.py defines."""

from __future__ import annotations

import re
from pathlib import Path

from prometheus_client import CollectorRegistry

from streamlearn.observability.metrics import ServiceMetrics

DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


def _defined() -> dict[str, tuple[str, tuple[str, ...]]]:
    m = ServiceMetrics(CollectorRegistry())
    out = {}
    for collector in list(m.registry._collector_to_names):
        name = collector._name
        kind = collector._type
        if kind == "counter":
            name += "_total"
        if kind == "info":
            name += "_info"
        out[name] = (kind, tuple(collector._labelnames))
    return out


def _documented() -> dict[str, tuple[str, str]]:
    rows = re.findall(r"^\| `(streamlearn_\w+)` \| ([^|]+) \| ([^|]+) \|", DOC.read_text(), re.M)
    return {name: (kind.strip(), labels.strip()) for name, kind, labels in rows}


def test_every_metric_is_documented_with_its_type_and_labels() -> None:
    defined = _defined()
    documented = _documented()
    doc_names = {
        n if n != "streamlearn_build_info" else "streamlearn_build_info" for n in documented
    }
    assert set(defined) == doc_names
    for name, (kind, labels) in defined.items():
        dkind, dlabels = documented[name]
        assert dkind.split()[0] == kind, name
        want = ", ".join(labels) if labels else "—"
        if kind != "info":
            assert dlabels == want, name


def test_naming_conventions() -> None:
    for name, (kind, _) in _defined().items():
        assert name.startswith("streamlearn_")
        if kind == "counter":
            assert name.endswith("_total")
        if kind == "histogram":
            assert name.endswith("_seconds")
