"""The label clusterer with its defaults on the label streams of real benchmark data sets."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from streamlearn.cluster import JaccardODAC
from streamlearn.stream import load_arff


@pytest.mark.parametrize("name", ["yeast", "scene", "medical", "tmc", "bibtex"])
def test_defaults_give_a_meaningful_partition(datasets_dir: Path, name: str) -> None:
    Y = load_arff(datasets_dir / f"{name}.arff.gz").Y
    L = Y.shape[1]
    odac = JaccardODAC()
    odac.set_n_labels(L)
    events = odac.update_many(Y)
    parts = odac.partition()
    sizes = np.array([p.size for p in parts])
    # neither one cluster nor (nearly) all singletons
    assert 2 <= len(parts) <= max(2, int(0.6 * L))
    assert (sizes == 1).sum() <= L // 2
    assert sizes.max() >= 2
    # labels that are clustered together co-occur more than labels kept apart
    C = Y[-odac.counts()["n"] :].astype(np.int64)
    co = C.T @ C
    lab = odac.label_cluster()
    same = (lab[:, None] == lab[None, :]) & ~np.eye(L, dtype=bool)
    apart = lab[:, None] != lab[None, :]
    n1 = np.diag(co)
    jac = co / np.maximum(n1[:, None] + n1[None, :] - co, 1)
    assert jac[same].mean() > jac[apart].mean()
    # the structure settles: few merges per check
    n_checks = len(Y) // odac.n_min
    assert sum(e.kind == "merge" for e in events) <= 0.5 * n_checks


def test_no_co_occurrence_structure_gives_one_cluster(datasets_dir: Path) -> None:
    """Birds: about one label per instance, labels almost never co-occur: nothing to split."""
    Y = load_arff(datasets_dir / "birds.arff.gz").Y
    odac = JaccardODAC()
    odac.set_n_labels(Y.shape[1])
    assert odac.update_many(Y) == []
    assert odac.n_clusters == 1


def test_min_size_keeps_rare_labels_in_larger_clusters(datasets_dir: Path) -> None:
    Y = load_arff(datasets_dir / "bibtex.arff.gz").Y
    free, bounded = JaccardODAC(), JaccardODAC(min_size=3)
    for odac in (free, bounded):
        odac.set_n_labels(Y.shape[1])
        odac.update_many(Y)
    assert min(p.size for p in free.partition()) == 1
    assert min(p.size for p in bounded.partition()) >= 3
    assert bounded.n_clusters < free.n_clusters
