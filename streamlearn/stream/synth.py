"""Seeded synthetic multi-label streams with planted label groups and drift at known points.

Generative model
----------------
A *concept* is a partition of the labels into ``n_groups`` groups (sizes differ by at most
one) plus, for every label, a feature signature:

- dense streams: a prototype vector per label, ``N(0, 0.5²)`` on every feature plus ``±3`` on
  a few "signature" features of its own (``max(1, n_features // n_labels)`` of them);
- sparse streams: a vocabulary per label (a block of word features of its own).

Each instance activates one group, or two distinct groups with probability 0.35 (one when
``n_groups == 1``), uniformly. Within an active group each label is on with probability
0.85, and at least one label of every active group is on; a label outside the active groups
is on with probability ``noise``. So the labels of a group co-occur strongly and labels of
different groups rarely do; each label's marginal frequency is about
``0.85 * 1.35 / n_groups`` in every concept.

Features are a function of the true labels plus noise, so every label is learnable from x:

- dense: ``x = sum of the on labels' prototypes + N(0, 1)`` per feature;
- sparse: each on label emits ``Poisson(λ)`` words drawn from its vocabulary, plus
  ``Poisson(λ_bg)`` background words drawn from all features; ``x`` holds word counts.
  By default ``λ = 6`` and ``λ_bg = 3``; ``density`` (expected fraction of non-zero features)
  rescales them (80 % from labels, 20 % background).

Drift
-----
A :class:`Drift` at ``position`` switches to the next concept: ``"labels"`` re-partitions the
labels (new groups, same labels, same feature signatures: the label-correlation structure
changes while each label keeps its meaning in x), ``"features"`` draws new prototypes /
vocabularies (the feature -> label mapping changes, the groups stay), ``"both"`` does both.
With ``width > 1`` the drift is gradual: the probability that an instance comes from the new
concept rises linearly from 0 to 1 over ``width`` instances centred on ``position``.
``SyntheticStream.concept_at`` records which concept generated each instance.

Everything is drawn from one ``numpy.random.Generator`` seeded with ``seed``: the same
arguments always give identical arrays.

Examples
--------
>>> s = make_stream(2_000, n_labels=6, n_groups=2, drifts=[Drift(1_000)], seed=1)
>>> len(s.dataset), s.dataset.n_features, s.dataset.n_labels
(2000, 20, 6)
>>> len(s.groups), sorted(len(g) for g in s.groups[0])
(2, [3, 3])
>>> int(s.concept_at[999]), int(s.concept_at[1000])
(0, 1)
>>> x, y = next(iter_events(n_features=4, n_labels=3, n_groups=1, seed=0))
>>> x.shape, x.dtype, y.shape, y.dtype
((4,), dtype('float64'), (3,), dtype('uint8'))

"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from streamlearn.base.arrays import CSR
from streamlearn.schema import Schema
from streamlearn.stream.dataset import Dataset

__all__ = ["DRIFT_KINDS", "Drift", "SyntheticStream", "iter_events", "make_stream"]

DRIFT_KINDS = ("labels", "features", "both")

#: Probability that a label of an active group is on.
P_IN_GROUP = 0.85
#: Probability that an instance activates a second group.
P_SECOND_GROUP = 0.35
#: Standard deviation of the Gaussian feature noise (dense streams).
FEATURE_NOISE = 1.0
#: Weight of a label's signature features in its prototype (dense streams).
SIGNATURE_WEIGHT = 3.0
#: Default words per on label / background words per instance (sparse streams).
WORDS_PER_LABEL = 6.0
BACKGROUND_WORDS = 3.0
#: Rows generated at a time (bounds the temporaries of :func:`make_stream`).
_BLOCK = 1 << 16


@dataclass(frozen=True)
class Drift:
    """A change of concept in a synthetic stream.

    Parameters
    ----------
    position
        Instance index where the new concept starts (the centre of the ramp when gradual).
    width
        1 for an abrupt drift; > 1: the probability of the new concept rises linearly over
        ``width`` instances centred on ``position``.
    kind
        ``"labels"`` (labels re-grouped), ``"features"`` (new feature signatures) or
        ``"both"``.

    """

    position: int
    width: int = 1
    kind: str = "labels"

    def __post_init__(self) -> None:
        if int(self.position) != self.position or self.position < 0:
            raise ValueError(f"Drift.position must be an integer >= 0, got {self.position!r}")
        if int(self.width) != self.width or self.width < 1:
            raise ValueError(f"Drift.width must be an integer >= 1, got {self.width!r}")
        if self.kind not in DRIFT_KINDS:
            raise ValueError(f"Drift.kind must be one of {DRIFT_KINDS}, got {self.kind!r}")

    @property
    def start(self) -> float:
        """First instance index where the new concept may appear."""
        return self.position - self.width / 2 if self.width > 1 else self.position

    @property
    def end(self) -> float:
        """Instance index from which only the new concept appears."""
        return self.position + self.width / 2 if self.width > 1 else self.position

    def probability(self, i: np.ndarray) -> np.ndarray:
        """Probability that instance ``i`` comes from the new concept."""
        i = np.asarray(i, dtype=np.float64)
        if self.width == 1:
            return (i >= self.position).astype(np.float64)
        return np.clip((i - self.start) / self.width, 0.0, 1.0)


@dataclass
class SyntheticStream:
    """A synthetic stream and what was planted in it.

    ``groups[c]`` lists the label groups of concept ``c`` (concept 0 first), each a sorted
    list of label indices; ``drifts`` the drifts sorted by position; ``concept_at[i]`` the
    concept that generated instance ``i``.
    """

    dataset: Dataset
    groups: list[list[list[int]]]
    drifts: tuple[Drift, ...]
    concept_at: np.ndarray


@dataclass
class _Concept:
    group_of: np.ndarray  # (L,) group index of each label
    proto: np.ndarray | None  # (L, d) dense prototypes
    vocab: np.ndarray | None  # (L, v) word ids per label (sparse)

    def groups(self, n_groups: int) -> list[list[int]]:
        return [np.flatnonzero(self.group_of == g).tolist() for g in range(n_groups)]


class _Model:
    """Parameters shared by every concept of one stream."""

    def __init__(
        self,
        rng: np.random.Generator,
        n_features: int,
        n_labels: int,
        n_groups: int,
        noise: float,
        sparse: bool,
        density: float | None,
    ) -> None:
        self.rng = rng
        self.d = n_features
        self.L = n_labels
        self.G = n_groups
        self.noise = noise
        self.sparse = sparse
        sizes = np.full(n_groups, n_labels // n_groups)
        sizes[: n_labels % n_groups] += 1
        self.sizes = sizes
        if sparse:
            self.vocab_size = max(1, n_features // n_labels)
            card = self.expected_cardinality()
            if density is None:
                self.lam_label, self.lam_bg = WORDS_PER_LABEL, BACKGROUND_WORDS
            else:
                target = density * n_features
                self.lam_label = 0.8 * target / card
                self.lam_bg = 0.2 * target

    def expected_cardinality(self) -> float:
        k = 1.0 if self.G == 1 else 1.0 + P_SECOND_GROUP
        in_group = k * (self.L / self.G) * P_IN_GROUP
        return in_group + self.noise * max(0.0, self.L - k * self.L / self.G)

    # ------------------------------------------------------------------ concepts
    def partition(self, previous: np.ndarray | None) -> np.ndarray:
        """A random partition (group index per label); far from ``previous`` if given."""
        base = np.repeat(np.arange(self.G), self.sizes)
        if previous is None:
            return self.rng.permutation(base)
        best, best_score = None, None
        prev_same = previous[:, None] == previous[None, :]
        for _ in range(16):
            cand = self.rng.permutation(base)
            score = int(np.sum(prev_same & (cand[:, None] == cand[None, :])))
            if best_score is None or score < best_score:
                best, best_score = cand, score
        assert best is not None
        return best

    def signatures(self) -> tuple[np.ndarray | None, np.ndarray | None]:
        rng, d, L = self.rng, self.d, self.L
        perm = rng.permutation(d)
        if self.sparse:
            v = self.vocab_size
            idx = (np.arange(L)[:, None] * v + np.arange(v)[None, :]) % d
            return None, perm[idx]
        s = max(1, d // L)
        proto = rng.normal(0.0, 0.5, size=(L, d))
        own = perm[(np.arange(L)[:, None] * s + np.arange(s)[None, :]) % d]
        signs = rng.choice(np.array([-1.0, 1.0]), size=(L, s))
        np.put_along_axis(proto, own, SIGNATURE_WEIGHT * signs, axis=1)
        return proto, None

    def first_concept(self) -> _Concept:
        group_of = self.partition(None)
        proto, vocab = self.signatures()
        return _Concept(group_of, proto, vocab)

    def next_concept(self, c: _Concept, kind: str) -> _Concept:
        group_of = c.group_of
        proto, vocab = c.proto, c.vocab
        if kind in ("labels", "both"):
            group_of = self.partition(c.group_of)
        if kind in ("features", "both"):
            proto, vocab = self.signatures()
        return _Concept(group_of, proto, vocab)

    # ------------------------------------------------------------------ instances
    def labels(self, c: _Concept, m: int) -> np.ndarray:
        rng, G, L = self.rng, self.G, self.L
        rows = np.arange(m)
        active = np.zeros((m, G), dtype=np.bool_)
        g1 = rng.integers(G, size=m)
        active[rows, g1] = True
        if G > 1:
            two = rng.random(m) < P_SECOND_GROUP
            g2 = (g1 + rng.integers(1, G, size=m)) % G
            active[rows[two], g2[two]] = True
        in_active = active[:, c.group_of]
        u = rng.random((m, L))
        Y = np.where(in_active, u < P_IN_GROUP, u < self.noise)
        # at least one label on in every active group
        onehot = np.zeros((L, G), dtype=np.float32)
        onehot[np.arange(L), c.group_of] = 1.0
        counts = Y.astype(np.float32) @ onehot
        miss_r, miss_g = np.nonzero(active & (counts == 0))
        if miss_r.size:
            members = [np.flatnonzero(c.group_of == g) for g in range(G)]
            width = max(len(mb) for mb in members)
            table = np.zeros((G, width), dtype=np.int64)
            for g, mb in enumerate(members):
                table[g, : len(mb)] = mb
            sizes = np.array([len(mb) for mb in members])
            pick = (rng.random(miss_r.size) * sizes[miss_g]).astype(np.int64)
            Y[miss_r, table[miss_g, pick]] = True
        return Y.astype(np.uint8)

    def dense_features(self, c: _Concept, Y: np.ndarray) -> np.ndarray:
        assert c.proto is not None
        X = Y.astype(np.float64) @ c.proto
        X += self.rng.standard_normal(X.shape) * FEATURE_NOISE
        return X

    def sparse_features(
        self, c: _Concept, Y: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(row counts, column indices, values) of the block, rows in order, columns sorted."""
        assert c.vocab is not None
        rng, d, m = self.rng, self.d, Y.shape[0]
        per_label = rng.poisson(self.lam_label, size=Y.shape) * Y
        r_l, l_l = np.nonzero(per_label)
        reps = per_label[r_l, l_l]
        rows_w = np.repeat(r_l, reps)
        labs_w = np.repeat(l_l, reps)
        words_w = c.vocab[labs_w, rng.integers(c.vocab.shape[1], size=labs_w.size)]
        bg = rng.poisson(self.lam_bg, size=m)
        rows_b = np.repeat(np.arange(m), bg)
        words_b = rng.integers(d, size=rows_b.size)
        keys = np.concatenate([rows_w * d + words_w, rows_b * d + words_b]).astype(np.int64)
        keys, counts = np.unique(keys, return_counts=True)
        rows, cols = np.divmod(keys, d)
        return np.bincount(rows, minlength=m), cols, counts.astype(np.float64)


def _check(n_features: int, n_labels: int, n_groups: int, noise: float) -> None:
    if n_features < 1:
        raise ValueError(f"n_features must be >= 1, got {n_features}")
    if n_labels < 1:
        raise ValueError(f"n_labels must be >= 1, got {n_labels}")
    if not 1 <= n_groups <= n_labels:
        raise ValueError(f"n_groups must be between 1 and n_labels={n_labels}, got {n_groups}")
    if not 0.0 <= noise < 1.0:
        raise ValueError(f"noise must be in [0, 1), got {noise}")


def _schema(n_features: int, n_labels: int, sparse: bool, name: str) -> Schema:
    return Schema(
        features=[f"f{j}" for j in range(n_features)],
        labels=[f"L{j}" for j in range(n_labels)],
        sparse=sparse,
        name=name,
    )


def make_stream(
    n: int = 10_000,
    *,
    n_features: int = 20,
    n_labels: int = 12,
    n_groups: int = 3,
    drifts: Sequence[Drift] = (),
    seed: int = 0,
    sparse: bool = False,
    noise: float = 0.05,
    density: float | None = None,
) -> SyntheticStream:
    """A synthetic multi-label stream with planted label groups and drifts at known points.

    Parameters
    ----------
    n
        Number of instances.
    n_features, n_labels, n_groups
        Sizes; the labels are split into ``n_groups`` groups (``1 <= n_groups <= n_labels``).
    drifts
        Drifts (any order; sorted by position). Their ramps must not overlap, positions must
        lie in ``[0, n]``, and ``"labels"``/``"both"`` drifts need ``n_groups >= 2``.
    seed
        Seed of the ``numpy.random.Generator`` that draws everything.
    sparse
        Sparse word-count features held as :class:`CSR` (``schema.sparse`` True).
    noise
        Probability that a label outside the instance's active groups is on.
    density
        Sparse streams only: expected fraction of non-zero features per instance
        (default: about 6 words per true label + 3 background words).

    Returns
    -------
    SyntheticStream
        The :class:`Dataset` (named ``"synthetic"``), the planted groups of each concept,
        the drifts and the concept of each instance.

    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    _check(n_features, n_labels, n_groups, noise)
    if density is not None:
        if not sparse:
            raise ValueError("density applies to sparse streams only (sparse=True)")
        if not 0.0 < density <= 1.0:
            raise ValueError(f"density must be in (0, 1], got {density}")
    ordered = tuple(sorted(drifts, key=lambda dr: dr.position))
    for dr in ordered:
        if not isinstance(dr, Drift):
            raise TypeError(f"drifts must be Drift objects, got {dr!r}")
        if dr.position > n:
            raise ValueError(f"drift at {dr.position} lies beyond the stream (n={n})")
        if dr.kind != "features" and n_groups < 2:
            raise ValueError(f"a {dr.kind!r} drift re-groups labels: it needs n_groups >= 2")
    for a, b in itertools.pairwise(ordered):
        if a.end > b.start or a.position == b.position:
            raise ValueError(f"drifts overlap: {a} and {b}")

    rng = np.random.default_rng(seed)
    model = _Model(rng, n_features, n_labels, n_groups, noise, sparse, density)
    concepts = [model.first_concept()]
    for dr in ordered:
        concepts.append(model.next_concept(concepts[-1], dr.kind))

    u = rng.random(n)
    idx = np.arange(n)
    concept_at = np.zeros(n, dtype=np.int64)
    for dr in ordered:
        concept_at += u < dr.probability(idx)

    Y = np.zeros((n, n_labels), dtype=np.uint8)
    X_dense = None if sparse else np.zeros((n, n_features), dtype=np.float64)
    counts_parts, cols_parts, vals_parts = [], [], []
    for a in range(0, n, _BLOCK):
        b = min(a + _BLOCK, n)
        block_concepts = concept_at[a:b]
        for ci in np.unique(block_concepts):
            rows = a + np.flatnonzero(block_concepts == ci)
            c = concepts[int(ci)]
            Yb = model.labels(c, rows.size)
            Y[rows] = Yb
            if X_dense is not None:
                X_dense[rows] = model.dense_features(c, Yb)
            else:
                counts, cols, vals = model.sparse_features(c, Yb)
                # rows of one concept are not contiguous in a gradual drift: keep them per
                # row and reorder below
                counts_parts.append((rows, counts))
                cols_parts.append(cols)
                vals_parts.append(vals)
    X: np.ndarray | CSR
    if X_dense is not None:
        X = X_dense
    else:
        X = _assemble_csr(n, n_features, counts_parts, cols_parts, vals_parts)
    schema = _schema(n_features, n_labels, sparse, "synthetic")
    dataset = Dataset(name="synthetic", schema=schema, X=X, Y=Y)
    return SyntheticStream(
        dataset=dataset,
        groups=[c.groups(n_groups) for c in concepts],
        drifts=ordered,
        concept_at=concept_at,
    )


def _assemble_csr(
    n: int,
    n_cols: int,
    counts_parts: list[tuple[np.ndarray, np.ndarray]],
    cols_parts: list[np.ndarray],
    vals_parts: list[np.ndarray],
) -> CSR:
    """CSR from per-part (row ids, entries per row) and entries in part/row order."""
    nnz_per_row = np.zeros(n, dtype=np.int64)
    for rows, counts in counts_parts:
        nnz_per_row[rows] = counts
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(nnz_per_row, out=indptr[1:])
    total = int(indptr[-1])
    indices = np.empty(total, dtype=np.int64)
    data = np.empty(total, dtype=np.float64)
    for (rows, counts), cols, vals in zip(counts_parts, cols_parts, vals_parts):
        # destination of each entry: its row's start + its rank within the row
        starts = np.repeat(indptr[rows], counts)
        first = np.repeat(np.cumsum(counts) - counts, counts)
        dest = starts + (np.arange(cols.size) - first)
        indices[dest] = cols
        data[dest] = vals
    return CSR(indptr, indices, data, n_cols)


def iter_events(
    *,
    n_features: int = 20,
    n_labels: int = 12,
    n_groups: int = 3,
    drift_every: int | None = None,
    seed: int = 0,
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """An endless dense synthetic stream of ``(x, y)`` rows (``float64``, ``uint8``).

    Same model as :func:`make_stream` (``noise`` 0.05). With ``drift_every``, an abrupt drift
    happens every ``drift_every`` instances, cycling through the kinds ``"labels"``,
    ``"features"``, ``"both"`` (only ``"features"`` when ``n_groups == 1``). Deterministic
    given ``seed``; rows are views of fresh arrays that are never written again.
    """
    _check(n_features, n_labels, n_groups, 0.05)
    if drift_every is not None and drift_every < 1:
        raise ValueError(f"drift_every must be >= 1, got {drift_every}")
    rng = np.random.default_rng(seed)
    model = _Model(rng, n_features, n_labels, n_groups, 0.05, False, None)
    concept = model.first_concept()
    kinds = itertools.cycle(DRIFT_KINDS if n_groups >= 2 else ("features",))
    i = 0
    block = 256
    while True:
        m = block if drift_every is None else min(block, drift_every - i % drift_every)
        Y = model.labels(concept, m)
        X = model.dense_features(concept, Y)
        for r in range(m):
            yield X[r], Y[r]
        i += m
        if drift_every is not None and i % drift_every == 0:
            concept = model.next_concept(concept, next(kinds))
