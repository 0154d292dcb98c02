"""Kernels of the multi-label Hoeffding adaptive tree (MLHAT family).

Pure functions over the arrays of three groups of state, kept as named tuples of numpy arrays
so that a learner pickles exactly and the kernels stay free of objects:

``Tree``   one tree over ``Lc`` labels (its ``label_map`` gives their columns in the label
           matrices): node arrays (growable), observer slots (split statistics of the active
           leaves), model slots (the leaf models of every leaf) and tree-level scalars.
``Store``  a ring of recent rows (features, labels and known-mask) shared by the trees of one
           learner; leaves keep the ids of their recent rows in it (kNN, recency).
``Params`` the scalar hyper-parameters.

Inputs are always CSR rows (``indptr``, ``indices``, ``data``); dense matrices are passed with
every entry explicit, which the kernels notice through ``Params.dense`` (dense rows are
standardised with running statistics; sparse rows are used as they are, and every cost follows
their non-zeros).

Observers. For every active leaf, feature ``f`` and outcome ``c`` (each label; ``Lc`` = "no
label"; ``Lc + 1`` = every instance) an observer keeps the weight, sum and sum of squares of the
non-zero values seen with that outcome (``o_w``, ``o_s1``, ``o_s2``), the leaf keeps the weight
of each outcome (``o_tot``), and the feature keeps the range of its non-zero values. The zero
values of an outcome are then ``o_tot - o_w``: a point mass at 0 plus a Gaussian of the
non-zeros describes each (feature, outcome), which is exact for the binary features of text data
and the Gaussian observer of River's Hoeffding trees for dense data.

Split merit is the multi-label entropy of a multivariate Bernoulli over the outcomes (labels and
"no label"), the Hoeffding bound's range is ``log2`` of the number of distinct label sets seen
at the leaf.

Leaf models, mixed per label by their own prequential (decayed Brier) loss: majority label set,
recency (the label set of the latest instance that reached the leaf), kNN over the leaf's recent
instances (cosine similarity), naive Bayes (Gaussian on dense data, multinomial on sparse data,
both from the observers' statistics) and a per-label logistic regression trained by SGD.
"""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from streamlearn._kernels._config import NO_REFCOUNT, njit
from streamlearn._kernels.adwin import adwin_estimation, adwin_update
from streamlearn._kernels.mathx import binary_entropy, normal_cdf
from streamlearn._kernels.rng import rng_poisson

# ---------------------------------------------------------------------------------- layout
MC, REC, KNN, NB, LR, KNN_LS = 0, 1, 2, 3, 4, 5
N_MODELS = 6
MODEL_NAMES = ("majority_labelset", "recency", "knn", "naive_bayes", "logistic", "knn_labelset")

# Tree.meta (int64) slots
M_NODE_HWM = 0  # nodes ever allocated (high-water mark)
M_NODE_NFREE = 1  # entries on the node free stack
M_ROOT = 2
M_OSLOT_HWM = 3
M_OSLOT_NFREE = 4
M_MSLOT_HWM = 5
M_MSLOT_NFREE = 6
M_SPLITS = 7
M_DEACTIVATED = 8
M_NEED = 9  # bit flags: 1 = nodes, 2 = observer slots, 4 = model slots were missing
M_ALT_STARTED = 10
M_ALT_SWAPPED = 11
M_ALT_PRUNED = 12
M_NODE_DRIFTS = 13
M_LEAVES = 14
M_NO_OSLOT = 15  # 1: no observer slot may be allocated any more (memory limit reached)
M_MAXDEPTH = 16  # deepest node ever created
M_GROWABLE = 17  # 1: the arrays may still grow (tree_run then stops where room runs out)
M_N = 18

NEED_NODES, NEED_OSLOTS, NEED_MSLOTS = 1, 2, 4

# naive Bayes parameters of a leaf are recomputed when its weight grew by this much, or by this
# share of the weight they were computed at when that is more (their estimates move by about
# that share: 1/16 keeps every estimate within a few percent of the current one)
NB_REFRESH = 8.0
NB_REFRESH_SHARE = 1.0 / 16.0

# a leaf whose split test failed waits up to this many grace periods before the next attempt
# (see attempt_split)
GRACE_STRETCH = 4.0

# Tree.metaf (float64) slots
MF_WEIGHT = 0  # total weight learned
MF_N = 4

Tree = namedtuple(
    "Tree",
    [
        # nodes (capacity C)
        "feat",  # int64 (C,) split feature, -1 for a leaf
        "thr",  # float64 (C,) go left when x[feat] <= thr
        "left",  # int64 (C,)
        "right",  # int64 (C,)
        "parent",  # int64 (C,)
        "depth",  # int64 (C,)
        "oslot",  # int64 (C,) observer slot of an active leaf, -1 otherwise
        "mslot",  # int64 (C,) model slot of a leaf, -1 for a branch
        "alt",  # int64 (C,) root of this node's alternate subtree, -1 if none
        "bg",  # uint8 (C,) node of a background (alternate) subtree
        "active",  # uint8 (C,) leaf that may still split
        "weight",  # float64 (C,) weight seen
        "lw",  # float64 (C, Lc + 1) weight of each label (and "no label") being true
        "kw",  # float64 (C, Lc + 1) weight of instances where that label was known
        "last",  # float64 (C,) weight at the last split attempt
        "errs",  # float64 (C,) sum of errors since the node's last reset (alternates)
        "errn",  # float64 (C,) count for errs
        "adw",  # float64 (C, A) ADWIN state of each node (error of its subtree's predictions)
        "node_free",  # int64 (C,) free-node stack
        # observer slots (capacity S)
        "o_w",  # float64 (S, Lc + 2, d)
        "o_s1",  # float64 (S, Lc + 2, d)
        "o_s2",  # float64 (S, Lc + 2, d)
        "o_min",  # float64 (S, d) smallest non-zero value
        "o_max",  # float64 (S, d) largest non-zero value
        "o_tot",  # float64 (S, Lc + 2) weight of each outcome
        "o_mass",  # float64 (S, Lc + 2) sum of row values of each outcome (multinomial NB)
        "o_known",  # float64 (S, Lc + 2) weight of the rows where each outcome was known
        "nb_a",  # float64 (S, Lc, d) Gaussian naive Bayes (dense data): v^2 coefficient
        "nb_b",  # float64 (S, Lc, d) ... v coefficient
        "nb_c",  # float64 (S, Lc) ... sum of the constant terms over the features
        "nb_at",  # float64 (S,) leaf weight when they were computed (-1: never)
        "oslot_free",  # int64 (S,)
        # model slots (capacity M)
        "lr_w",  # float64 (M, d, Lc)
        "lr_b",  # float64 (M, Lc)
        "loss",  # float64 (M, Lc, N_MODELS) decayed Brier loss of each leaf model
        "ring",  # int64 (M, W) store ids of the leaf's recent instances
        "ring_n",  # int64 (M,)
        "ring_pos",  # int64 (M,)
        "ls_hash",  # uint64 (M, K) label-set table (space-saving counts)
        "ls_cnt",  # float64 (M, K)
        "ls_bits",  # uint8 (M, K, Lc)
        "ls_n",  # int64 (M,)
        "ls_distinct",  # float64 (M,)
        "mslot_free",  # int64 (M,)
        # tree level
        "label_map",  # int64 (Lc,) column of each tree label in the label matrices
        "adw_template",  # float64 (A,) a fresh ADWIN state (its parameters) for new nodes
        "meta",  # int64 (M_N,)
        "metaf",  # float64 (MF_N,)
        "rng",  # uint64 (4,)
    ],
)

Store = namedtuple(
    "Store",
    [
        "seq",  # int64 (G,) id of the row held in each slot (-1: empty)
        "start",  # int64 (G,) absolute position of its first entry
        "length",  # int64 (G,)
        "norm",  # float64 (G,) Euclidean norm of the raw row
        "znorm",  # float64 (G,) norm of the row as the learners saw it (standardised if dense)
        "idx",  # int64 (E,) entry ring: feature indices
        "val",  # float64 (E,) entry ring: values
        "zval",  # float64 (E,) entry ring: the values as the learners saw them (for kNN)
        "y",  # uint8 (G, L)
        "known",  # uint8 (G, L)
        "meta",  # int64 (2,): next id, entries written
        "scale_mean",  # float64 (d,) running mean of each feature (dense data)
        "scale_m2",  # float64 (d,) running sum of squared deviations
        "scale_n",  # float64 (1,) rows in those statistics
    ],
)

Params = namedtuple(
    "Params",
    [
        "grace_period",
        "delta",
        "tau",
        "n_split_points",
        "min_branch_fraction",
        "max_share_to_split",
        "merit_preprune",
        "max_depth",
        "knn_k",
        "learning_rate",
        "loss_decay",
        "hedge_eta",
        "nb_alpha",
        "dense",
        "bagging_rate",
        "models_mask",  # bit i set: leaf model i is used
        "skip_below",  # skip a leaf model whose mixture weight is below this for every label
        "drift",  # 1: node detectors and alternate subtrees
        "switch_significance",  # significance of the alternate-vs-main comparison
        "drift_window",  # instances both subtrees must see before they are compared
        "threshold",  # probability above which a label is predicted (for the error signal)
        "global_recent",  # 1: kNN and recency look at the stream's recent rows, 0: the leaf's
    ],
)


# ---------------------------------------------------------------------------------- store
@njit
def store_append(s, indptr, indices, data, Y, K, has_known, start, stop):
    """Append rows ``start:stop`` to the store ring; return the id of the first one."""
    G = s.seq.shape[0]
    E = s.idx.shape[0]
    L = s.y.shape[1]
    first = s.meta[0]
    for i in range(start, stop):
        rid = s.meta[0]
        slot = rid % G
        a = indptr[i]
        n = indptr[i + 1] - a
        pos = s.meta[1]
        nrm = 0.0
        for e in range(n):
            q = (pos + e) % E
            s.idx[q] = indices[a + e]
            v = data[a + e]
            s.val[q] = v
            s.zval[q] = v
            nrm += v * v
        s.seq[slot] = rid
        s.start[slot] = pos
        s.length[slot] = n
        s.norm[slot] = math.sqrt(nrm)
        s.znorm[slot] = s.norm[slot]
        for j in range(L):
            s.y[slot, j] = Y[i, j]
            s.known[slot, j] = K[i, j] if has_known else 1
        s.meta[0] = rid + 1
        s.meta[1] = pos + n
    return first


@njit
def store_slot(s, rid):
    """Slot of row ``rid`` if it is still whole in the store, else -1."""
    return _slot(s.seq, s.start, s.meta, s.idx.shape[0], rid)


@njit
def _slot(seq, start, meta, E, rid):
    if rid < 0:
        return -1
    slot = rid % seq.shape[0]
    if seq[slot] != rid:
        return -1
    if meta[1] - start[slot] > E:
        return -1
    return slot


@njit
def store_value(s, slot, f):
    """Value of feature ``f`` in the stored row (0 when absent); rows are sorted by index."""
    E = s.idx.shape[0]
    lo = 0
    hi = s.length[slot]
    base = s.start[slot]
    while lo < hi:
        mid = (lo + hi) // 2
        q = (base + mid) % E
        g = s.idx[q]
        if g == f:
            return s.val[q]
        if g < f:
            lo = mid + 1
        else:
            hi = mid
    return 0.0


# ---------------------------------------------------------------------------------- allocation
@njit
def alloc_node(t):
    """A fresh node id (from the free stack or the high-water mark), or -1 when full."""
    if t.meta[M_NODE_NFREE] > 0:
        t.meta[M_NODE_NFREE] -= 1
        n = t.node_free[t.meta[M_NODE_NFREE]]
    elif t.meta[M_NODE_HWM] < t.feat.shape[0]:
        n = t.meta[M_NODE_HWM]
        t.meta[M_NODE_HWM] += 1
    else:
        t.meta[M_NEED] |= NEED_NODES
        return -1
    t.feat[n] = -1
    t.thr[n] = 0.0
    t.left[n] = -1
    t.right[n] = -1
    t.parent[n] = -1
    t.depth[n] = 0
    t.oslot[n] = -1
    t.mslot[n] = -1
    t.alt[n] = -1
    t.bg[n] = 0
    t.active[n] = 1
    t.weight[n] = 0.0
    t.lw[n, :] = 0.0
    t.kw[n, :] = 0.0
    t.last[n] = 0.0
    t.errs[n] = 0.0
    t.errn[n] = 0.0
    t.adw[n] = t.adw_template
    return n


@njit
def free_node(t, n):
    t.feat[n] = -2  # marks a freed node
    t.node_free[t.meta[M_NODE_NFREE]] = n
    t.meta[M_NODE_NFREE] += 1


@njit
def free_subtree(t, n, stack):
    """Free ``n`` and everything below it (children, alternates, their slots)."""
    top = 0
    stack[top] = n
    top += 1
    while top > 0:
        top -= 1
        x = stack[top]
        if t.feat[x] >= 0:
            stack[top] = t.left[x]
            stack[top + 1] = t.right[x]
            top += 2
        if t.alt[x] >= 0:
            stack[top] = t.alt[x]
            top += 1
        if t.oslot[x] >= 0:
            free_oslot(t, t.oslot[x])
        if t.mslot[x] >= 0:
            free_mslot(t, t.mslot[x])
        free_node(t, x)


@njit
def set_background(t, n, flag, stack):
    top = 0
    stack[top] = n
    top += 1
    while top > 0:
        top -= 1
        x = stack[top]
        t.bg[x] = flag
        if t.feat[x] >= 0:
            stack[top] = t.left[x]
            stack[top + 1] = t.right[x]
            top += 2


@njit
def alloc_oslot(t):
    """A zeroed observer slot, or -1 (and the NEED flag) when none is left."""
    if t.meta[M_NO_OSLOT] != 0:
        return -1
    if t.meta[M_OSLOT_NFREE] > 0:
        t.meta[M_OSLOT_NFREE] -= 1
        o = t.oslot_free[t.meta[M_OSLOT_NFREE]]
    elif t.meta[M_OSLOT_HWM] < t.o_w.shape[0]:
        o = t.meta[M_OSLOT_HWM]
        t.meta[M_OSLOT_HWM] += 1
    else:
        t.meta[M_NEED] |= NEED_OSLOTS
        return -1
    t.o_w[o] = 0.0
    t.o_s1[o] = 0.0
    t.o_s2[o] = 0.0
    t.o_min[o] = np.inf
    t.o_max[o] = -np.inf
    t.o_tot[o] = 0.0
    t.o_mass[o] = 0.0
    t.o_known[o] = 0.0
    t.nb_at[o] = -1.0
    return o


@njit
def free_oslot(t, o):
    t.oslot_free[t.meta[M_OSLOT_NFREE]] = o
    t.meta[M_OSLOT_NFREE] += 1


@njit
def alloc_mslot(t):
    if t.meta[M_MSLOT_NFREE] > 0:
        t.meta[M_MSLOT_NFREE] -= 1
        m = t.mslot_free[t.meta[M_MSLOT_NFREE]]
    elif t.meta[M_MSLOT_HWM] < t.lr_w.shape[0]:
        m = t.meta[M_MSLOT_HWM]
        t.meta[M_MSLOT_HWM] += 1
    else:
        t.meta[M_NEED] |= NEED_MSLOTS
        return -1
    t.lr_w[m] = 0.0
    t.lr_b[m] = 0.0
    t.loss[m] = 0.0
    t.ring[m] = -1
    t.ring_n[m] = 0
    t.ring_pos[m] = 0
    t.ls_n[m] = 0
    t.ls_distinct[m] = 0.0
    return m


@njit
def free_mslot(t, m):
    t.mslot_free[t.meta[M_MSLOT_NFREE]] = m
    t.meta[M_MSLOT_NFREE] += 1


@njit
def copy_mslot(t, src, dst):
    t.lr_w[dst] = t.lr_w[src]
    t.lr_b[dst] = t.lr_b[src]
    t.loss[dst] = t.loss[src]
    t.ring[dst] = t.ring[src]
    t.ring_n[dst] = t.ring_n[src]
    t.ring_pos[dst] = t.ring_pos[src]
    t.ls_hash[dst] = t.ls_hash[src]
    t.ls_cnt[dst] = t.ls_cnt[src]
    t.ls_bits[dst] = t.ls_bits[src]
    t.ls_n[dst] = t.ls_n[src]
    t.ls_distinct[dst] = t.ls_distinct[src]


# ---------------------------------------------------------------------------------- rows
@njit
def prepare_rows(s, dense, indptr, indices, data, start, stop, learn, rid0, zdata, znorm):
    """The values the learners see for rows ``start:stop``, computed once for every tree.

    Dense rows are standardised with the stream's running mean and standard deviation as of
    each row (a constant feature gets scale 1; the first two rows are all zero); sparse rows
    are used as they are. ``zdata`` (aligned with ``data[indptr[start]:indptr[stop]]``) gets
    the values and ``znorm`` each row's norm. When learning, a row's standardised values are
    also kept in the store (row ``rid0 + i - start``: kNN compares with what was seen) and then
    enter the statistics (every learned row counts once, whatever its weight).
    """
    base = indptr[start]
    E = s.idx.shape[0]
    for i in range(start, stop):
        a = indptr[i]
        b = indptr[i + 1]
        nrm = 0.0
        if dense:
            cnt = s.scale_n[0]
            for e in range(a, b):
                f = indices[e]
                if cnt > 1.0:
                    sd = math.sqrt(s.scale_m2[f] / (cnt - 1.0))
                    z = (data[e] - s.scale_mean[f]) * (1.0 / sd if sd > 0.0 else 1.0)
                else:
                    z = 0.0
                zdata[e - base] = z
                nrm += z * z
        else:
            for e in range(a, b):
                v = data[e]
                zdata[e - base] = v
                nrm += v * v
        nrm = math.sqrt(nrm)
        znorm[i - start] = nrm
        if learn and dense:
            slot = store_slot(s, rid0 + (i - start))
            if slot >= 0:
                q0 = s.start[slot] % E
                for j in range(b - a):
                    q = q0 + j
                    if q >= E:
                        q -= E
                    s.zval[q] = zdata[a - base + j]
                s.znorm[slot] = nrm
            cnt = s.scale_n[0] + 1.0
            s.scale_n[0] = cnt
            for e in range(a, b):
                f = indices[e]
                dlt = data[e] - s.scale_mean[f]
                s.scale_mean[f] += dlt / cnt
                s.scale_m2[f] += dlt * (data[e] - s.scale_mean[f])


@njit
def scatter_row(idx, val, zv, xd, xz):
    """Raw values into ``xd`` (routing, observers), learners' values into ``xz``."""
    for e in range(idx.shape[0]):
        xd[idx[e]] = val[e]
        xz[idx[e]] = zv[e]


@njit
def clear_row(idx, xd, xz):
    for e in range(idx.shape[0]):
        xd[idx[e]] = 0.0
        xz[idx[e]] = 0.0


@njit
def route(t, node, xd):
    """The leaf reached from ``node`` by the raw row scattered in ``xd``."""
    while t.feat[node] >= 0:
        if xd[t.feat[node]] <= t.thr[node]:
            node = t.left[node]
        else:
            node = t.right[node]
    return node


# ---------------------------------------------------------------------------------- leaf models
@njit
def _sigmoid(z):
    if z >= 0.0:
        return 1.0 / (1.0 + math.exp(-min(z, 40.0)))
    ez = math.exp(max(z, -40.0))
    return ez / (1.0 + ez)


@njit
def leaf_prior(t, leaf, c):
    """Share of label c among the leaf's known values. A split child's counts are estimates
    (its known weight is the side times the leaf's known fraction, while under partial labels
    where labels are known depends on the side): the share is capped at 1."""
    return _prior(t.lw, t.kw, leaf, c)


# The hot paths call array-level helpers: a kernel that receives a Tree increfs each of its
# arrays on entry and decrefs them on exit (about a hundred atomic operations per call).
@njit
def _prior(lw, kw, leaf, c):
    k = kw[leaf, c]
    return min(1.0, lw[leaf, c] / k) if k > 0.0 else 0.0


@njit
def predict_lr(t, m, idx, zval, pm):
    """Per-label logistic regression of model slot ``m`` on the scaled row, into ``pm[LR]``."""
    _predict_lr(t.lr_w, t.lr_b, m, idx, zval, pm)


@njit
def _predict_lr(lr_w, lr_b, m, idx, zval, pm):
    Lc = lr_b.shape[1]
    if Lc <= 4:
        # few labels (iHOMER's trees): each label's sum in a register; the same sum in the same
        # order as below, which is faster with many labels (the label loop vectorises)
        for c in range(Lc):
            acc = lr_b[m, c]
            for e in range(idx.shape[0]):
                z = zval[e]
                if z != 0.0:
                    acc += z * lr_w[m, idx[e], c]
            pm[LR, c] = _sigmoid(acc)
        return
    for c in range(Lc):
        pm[LR, c] = lr_b[m, c]
    for e in range(idx.shape[0]):
        z = zval[e]
        if z != 0.0:
            f = idx[e]
            for c in range(Lc):
                pm[LR, c] += z * lr_w[m, f, c]
    for c in range(Lc):
        pm[LR, c] = _sigmoid(pm[LR, c])


@njit
def recent_count(t, p, m, cur):
    """How many recent rows the kNN and recency models may look at (newest first)."""
    return _recent_count(t.ring, t.ring_n, p.global_recent, m, cur)


@njit
def _recent_count(ring, ring_n, global_recent, m, cur):
    if global_recent:
        return min(ring.shape[1], cur)
    return ring_n[m]


@njit
def recent_rid(t, p, m, cur, back):
    """Store id of the ``back``-th most recent row: of the stream (rows before ``cur``, the id of
    the row being predicted) or of the leaf."""
    return _recent_rid(t.ring, t.ring_pos, p.global_recent, m, cur, back)


@njit
def _recent_rid(ring, ring_pos, global_recent, m, cur, back):
    if global_recent:
        return cur - back
    W = ring.shape[1]
    return ring[m, (ring_pos[m] - back) % W]


@njit(inline="always")
def knn_offer(sims, ids, nfound, sim, slot):
    """Offer a candidate to the top-k (descending similarity; on equal similarity the one
    offered first stays ahead); returns the new count."""
    k = sims.shape[0]
    if nfound < k:
        pos = nfound
        nfound += 1
    elif sim > sims[k - 1]:
        pos = k - 1
    else:
        return nfound
    while pos > 0 and sims[pos - 1] < sim:
        sims[pos] = sims[pos - 1]
        ids[pos] = ids[pos - 1]
        pos -= 1
    sims[pos] = sim
    ids[pos] = slot
    return nfound


@njit
def search_recent(s, xz, norm_x, cur, n, sims, ids):
    """Top-k of the ``n`` stream rows before id ``cur`` by similarity to the row in ``xz``,
    newest first (so that on equal similarity the more recent row wins); returns the count."""
    # _similarity written out: a call per candidate costs more than the dot itself (measured:
    # MLHAT on yeast 35k -> 21k instances/s with the call, even on arrays)
    E = s.idx.shape[0]
    d = xz.shape[0]
    nfound = 0
    for back in range(1, n + 1):
        slot = _slot(s.seq, s.start, s.meta, E, cur - back)
        if slot < 0:
            continue
        q0 = s.start[slot] % E
        n_e = s.length[slot]
        nr = s.znorm[slot]
        if nr <= 0.0 or norm_x <= 0.0:
            sim = 0.0
        elif n_e == d and q0 + n_e <= E:  # a whole dense row, not wrapped
            sim = _contiguous_dot(s.zval, q0, xz) / (nr * norm_x)
        else:
            sim = _sparse_dot(s.zval, s.idx, q0, n_e, xz) / (nr * norm_x)
        nfound = knn_offer(sims, ids, nfound, sim, slot)
    return nfound


@njit(inline="always")
def keep_neighbours(kres, r, nfound, ids, sims):
    """Row ``r`` of ``kres``: ``[count, slots..., similarities...]`` (``sims.shape[0]`` each)."""
    k = sims.shape[0]
    kres[r, 0] = nfound
    for i in range(nfound):
        kres[r, 1 + i] = ids[i]
        kres[r, 1 + k + i] = sims[i]


@njit(inline="always")
def kept_neighbours(kres, r, ids, sims):
    """The neighbours kept in row ``r`` of ``kres`` into ``ids``/``sims``; returns the count."""
    k = sims.shape[0]
    nfound = int(kres[r, 0])
    for i in range(nfound):
        ids[i] = int(kres[r, 1 + i])
        sims[i] = kres[r, 1 + k + i]
    return nfound


@njit
def knn_search_rows(s, indptr, indices, zdata, znorm, start, stop, rid0, learn, window, d, kres):
    """The stream-scope neighbours of rows ``start:stop``, once for every leaf of every tree.

    ``kres[i - start]`` gets ``[count, slots..., similarities...]`` (``k = (kres.shape[1] - 1)
    // 2`` of each), the result :func:`predict_knn` would find for the row with
    ``p.global_recent``: the ``window`` rows before the row's own id when learning (``rid0`` is
    the id of row ``start``), before the store's next id when only predicting.
    """
    k = (kres.shape[1] - 1) // 2
    sims = np.zeros(k)
    ids = np.zeros(k, dtype=np.int64)
    xz = np.zeros(d)
    base = indptr[start]
    for i in range(start, stop):
        a = indptr[i]
        b = indptr[i + 1]
        for e in range(a, b):
            xz[indices[e]] = zdata[e - base]
        cur = rid0 + (i - start) if learn else s.meta[0]
        nfound = search_recent(s, xz, znorm[i - start], cur, min(window, cur), sims, ids)
        keep_neighbours(kres, i - start, nfound, ids, sims)
        for e in range(a, b):
            xz[indices[e]] = 0.0


@njit
def predict_knn(t, s, p, m, leaf, xz, norm_x, pm, sims, ids, cache, cache_col, crow, cur, kres):
    """kNN (cosine) over the recent rows: per-label vote of the k nearest; False if none.

    With ``p.global_recent`` the candidates are the stream's latest rows, the same for every
    leaf of every tree: ``kres[crow]`` (``[count, slots..., similarities...]``, count -1 = not
    computed yet; a (0, 0) array disables it) keeps the neighbours found for a row so that
    other trees and alternates reuse them (:func:`knn_search_rows` fills it for a chunk).

    ``cache[crow, cache_col[slot]]`` memoises similarities between the current row and store
    rows across the trees of a forest (NaN = not computed; ``cache_col[slot] < 0``: not cached;
    a (0, 0) cache disables it): trees see the same rows with the same feature scaling, so a
    similarity computed by one tree is valid for every other.
    """
    use_cache = cache.shape[0] > 0
    kk = int(p.knn_k)  # the vote's k; sims holds 4 * knn_k candidates, so that each label finds
    nfound = 0  # k neighbours knowing it
    shared = p.global_recent and kres.shape[0] > 0
    if shared and kres[crow, 0] >= 0.0:
        nfound = kept_neighbours(kres, crow, ids, sims)
    elif p.global_recent:
        nfound = search_recent(s, xz, norm_x, cur, recent_count(t, p, m, cur), sims, ids)
        if shared:
            keep_neighbours(kres, crow, nfound, ids, sims)
    else:
        # the leaf's own recent rows, newest first
        for back in range(1, recent_count(t, p, m, cur) + 1):
            slot = store_slot(s, recent_rid(t, p, m, cur, back))
            if slot < 0:
                continue
            col = cache_col[slot] if use_cache else -1
            if col >= 0 and not math.isnan(cache[crow, col]):
                sim = cache[crow, col]
            else:
                sim = _similarity(s.zval, s.idx, s.start, s.length, s.znorm, slot, xz, norm_x)
                if col >= 0:
                    cache[crow, col] = sim
            nfound = knn_offer(sims, ids, nfound, sim, slot)
    return _knn_vote(t.label_map, t.lw, t.kw, leaf, s.y, s.known, ids, nfound, kk, pm)


@njit
def _knn_vote(label_map, lw, kw, leaf, y, known, ids, nfound, kk, pm):
    """The kNN models' per-label votes from the ``nfound`` neighbours in ``ids`` (store
    slots); False when there is none."""
    if nfound == 0:
        return False
    Lc = label_map.shape[0]
    for c in range(Lc):
        col = label_map[c]
        pos_ = 0.0
        kn = 0.0
        for i in range(nfound):
            if known[ids[i], col]:
                kn += 1.0
                pos_ += y[ids[i], col]
                if kn >= kk:
                    break
        pm[KNN, c] = pos_ / kn if kn > 0.0 else _prior(lw, kw, leaf, c)
    # label-powerset vote: the label set (over this tree's labels) most frequent among the k
    # nearest, ties to the nearest; unknown labels count as absent
    nk = min(kk, nfound)
    best_i = 0
    best_v = 0
    for i in range(nk):
        votes = 1
        for j in range(nk):
            if j == i:
                continue
            same = True
            for c in range(Lc):
                col = label_map[c]
                yi = y[ids[i], col] if known[ids[i], col] else 0
                yj = y[ids[j], col] if known[ids[j], col] else 0
                if yi != yj:
                    same = False
                    break
            if same:
                votes += 1
        if votes > best_v:
            best_v = votes
            best_i = i
    for c in range(Lc):
        col = label_map[c]
        pm[KNN_LS, c] = y[ids[best_i], col] if known[ids[best_i], col] else 0.0
    return True


@njit(fastmath=True)
def _contiguous_dot(zval, q0, xz):
    """``zval[q0:q0+d] . xz`` for a stored dense row (a slice and ``fastmath`` let it
    vectorise; only the summation order changes)."""
    row = zval[q0 : q0 + xz.shape[0]]
    dot = 0.0
    for f in range(row.shape[0]):
        dot += row[f] * xz[f]
    return dot


@njit
def _similarity(zval, idx, start, length, znorm, slot, xz, norm_x):
    """Cosine similarity between the current row and a stored one (the store's arrays), both
    as the learners see them: standardised (dense data; a stored row keeps the standardisation
    of the moment it was learned) or raw (sparse data). :func:`search_recent` has it written
    out."""
    E = idx.shape[0]
    q0 = start[slot] % E
    n_e = length[slot]
    nr = znorm[slot]
    if nr <= 0.0 or norm_x <= 0.0:
        return 0.0
    if n_e == xz.shape[0] and q0 + n_e <= E:  # a whole dense row, not wrapped
        return _contiguous_dot(zval, q0, xz) / (nr * norm_x)
    return _sparse_dot(zval, idx, q0, n_e, xz) / (nr * norm_x)


@njit
def _sparse_dot(zval, idx, q0, n_e, xz):
    """The stored row at entries ``q0:q0+n_e`` of the ring (possibly wrapped) dot ``xz``."""
    E = idx.shape[0]
    dot = 0.0
    seg1 = min(n_e, E - q0)
    for q in range(q0, q0 + seg1):
        dot += zval[q] * xz[idx[q]]
    for q in range(0, n_e - seg1):
        dot += zval[q] * xz[idx[q]]
    return dot


@njit
def nb_refresh(t, o):
    """Recompute a leaf's Gaussian naive Bayes parameters (dense data) from its observers.

    Per (label, feature), the log-ratio of the two class densities at ``v`` is
    ``a v^2 + b v + c``; ``nb_c`` keeps the sum of ``c`` over the features. Negatives of a label
    are the rows where it was known and false; with partial label sets their statistics are
    estimated as ``q * (all rows) - positives``, ``q`` the fraction of rows where it was known
    (labels missing at random).
    """
    Lc = t.label_map.shape[0]
    T = Lc + 1
    W = t.o_tot[o, T]
    d = t.o_w.shape[2]
    for c in range(Lc):
        t.nb_c[o, c] = 0.0
    # feature by feature (no scratch arrays: the kernel allocates nothing); each label's sum
    # over the features is still taken in feature order
    for f in range(d):
        nt = t.o_w[o, T, f]
        if nt <= 0.0:
            for c in range(Lc):
                t.nb_a[o, c, f] = 0.0
                t.nb_b[o, c, f] = 0.0
            continue
        mt = t.o_s1[o, T, f] / nt
        v = t.o_s2[o, T, f] / nt - mt * mt
        floor = 1e-9 + 1e-3 * max(v, 0.0)
        vt = max(v, floor)
        for c in range(Lc):
            q = t.o_known[o, c] / W
            np_ = t.o_w[o, c, f]
            nn = q * nt - np_
            if np_ > 0.0:
                mp = t.o_s1[o, c, f] / np_
                vp = max(t.o_s2[o, c, f] / np_ - mp * mp, floor)
            else:
                mp = mt
                vp = vt
            if nn > 1e-9:
                mn = (q * t.o_s1[o, T, f] - t.o_s1[o, c, f]) / nn
                vn = max((q * t.o_s2[o, T, f] - t.o_s2[o, c, f]) / nn - mn * mn, floor)
            else:
                mn = mt
                vn = vt
            t.nb_a[o, c, f] = 0.5 / vn - 0.5 / vp
            t.nb_b[o, c, f] = mp / vp - mn / vn
            t.nb_c[o, c] += -0.5 * math.log(vp / vn) - mp * mp / (2.0 * vp) + mn * mn / (2.0 * vn)
    t.nb_at[o] = W


@njit(fastmath=True)
def _nb_dense_row(a, b, val):
    """sum_f (a_f v_f + b_f) v_f over a whole dense row (vectorised; summation order only)."""
    acc = 0.0
    for f in range(val.shape[0]):
        v = val[f]
        acc += (a[f] * v + b[f]) * v
    return acc


@njit
def predict_nb(t, p, o, leaf, idx, val, pm, nb_logit):
    """Naive Bayes per label from the leaf's observers (Gaussian if dense, multinomial if sparse).

    Dense data: the per-feature parameters are those of the leaf's last refresh (every
    ``NB_REFRESH`` of weight, or ``NB_REFRESH_SHARE`` of the weight at the last refresh when
    that is more: they move slowly, and a prediction then costs two multiply-adds
    per (label, feature) instead of divisions and a logarithm); the class priors and the
    frequency fallback are always current. Sparse data is computed afresh: its cost follows the
    row's non-zeros (a refresh would cost every feature).
    """
    if p.dense and _nb_stale(t.o_tot, t.nb_at, o):
        nb_refresh(t, o)
    return _predict_nb(
        t.o_tot, t.o_known, t.o_mass, t.o_s1, t.nb_a, t.nb_b, t.nb_c, t.o_w.shape[2], p.dense,
        p.nb_alpha, o, idx, val, pm, nb_logit,
    )  # fmt: skip


@njit
def _nb_stale(o_tot, nb_at, o):
    """True when the leaf's dense naive Bayes parameters are due for a refresh."""
    W = o_tot[o, o_tot.shape[1] - 1]
    at = nb_at[o]
    return W > 0.0 and (at < 0.0 or W - at >= max(NB_REFRESH, NB_REFRESH_SHARE * at))


@njit
def _predict_nb(
    o_tot, o_known, o_mass, o_s1, nb_a, nb_b, nb_c, d, dense, a, o, idx, val, pm, nb_logit
):  # fmt: skip
    Lc = o_tot.shape[1] - 2
    T = Lc + 1
    W = o_tot[o, T]
    if W <= 0.0:
        return False
    logit = nb_logit
    for c in range(Lc):
        wp = o_tot[o, c]
        wn = max(o_known[o, c] - wp, 0.0)
        logit[c] = math.log((wp + a) / (wn + a))
    n = idx.shape[0]
    if dense:
        whole = n == d
        for c in range(Lc):
            if whole:
                acc = _nb_dense_row(nb_a[o, c], nb_b[o, c], val)
            else:
                acc = 0.0
                for e in range(n):
                    f = idx[e]
                    v = val[e]
                    acc += (nb_a[o, c, f] * v + nb_b[o, c, f]) * v
            logit[c] += nb_c[o, c] + acc
    else:
        rowsum = 0.0
        for e in range(n):
            rowsum += val[e]
        # a multinomial counts: negative sums (signed sparse values) count as zero
        for c in range(Lc):
            mp = max(o_mass[o, c], 0.0)
            mn = max(o_known[o, c] / W * o_mass[o, T] - o_mass[o, c], 0.0)
            logit[c] += rowsum * (math.log(mn + a * d) - math.log(mp + a * d))
        for e in range(n):
            f = idx[e]
            v = val[e]
            st = o_s1[o, T, f]
            for c in range(Lc):
                sp = o_s1[o, c, f]
                sn = o_known[o, c] / W * st - sp
                logit[c] += v * (math.log(max(sp, 0.0) + a) - math.log(max(sn, 0.0) + a))
    for c in range(Lc):
        wp = o_tot[o, c]
        wk = o_known[o, c]
        if wp <= 0.0 or wk - wp <= 0.0:
            pm[NB, c] = wp / wk if wk > 0.0 else 0.0
        else:
            pm[NB, c] = _sigmoid(logit[c])
    return True


@njit
def negligible(t, m, i, mask, eta, skip_below):
    """True when model ``i``'s mixture weight at model slot ``m`` is below ``skip_below`` for
    every label: its loss exceeds the best enabled model's by more than ``-log(skip_below)/eta``."""
    return _negligible(t.loss, m, i, mask, eta, skip_below)


@njit
def _negligible(loss, m, i, mask, eta, skip_below):
    if skip_below <= 0.0:
        return False
    gap = -math.log(skip_below) / eta
    Lc = loss.shape[1]
    for c in range(Lc):
        lo = np.inf
        for j in range(N_MODELS):
            if (mask >> j) & 1 and loss[m, c, j] < lo:
                lo = loss[m, c, j]
        if loss[m, c, i] - lo <= gap:
            return False
    return True


@njit(**NO_REFCOUNT)
def predict_leaf(
    t, s, p, leaf, idx, zval, xz, norm_x, val, pm, valid, out, sims, ids, nb_logit,
    cache, cache_col, crow, cur, kres,
):  # fmt: skip
    """Per-label probabilities of the leaf's mixture of models; ``pm``/``valid`` get each model's."""
    Lc = t.label_map.shape[0]
    m = t.mslot[leaf]
    o = t.oslot[leaf]
    full = int(p.models_mask)
    mask = full
    for i in range(N_MODELS):
        valid[i] = 0
    if t.weight[leaf] > 0.0 and (t.ring_pos[m] & 15) != 0:
        # models whose mixture weight is negligible for every label are skipped, except on
        # one row in 16 at this leaf, when every model is evaluated so that its loss can recover
        for i in range(N_MODELS):
            if (full >> i) & 1 and _negligible(t.loss, m, i, full, p.hedge_eta, p.skip_below):
                mask &= ~(1 << i)
    ran = 0
    while mask:
        # majority label set
        if (mask >> MC) & 1 and t.ls_n[m] > 0:
            best = 0
            for k in range(1, t.ls_n[m]):
                if t.ls_cnt[m, k] > t.ls_cnt[m, best]:
                    best = k
            for c in range(Lc):
                pm[MC, c] = t.ls_bits[m, best, c]
            valid[MC] = 1
        # recency: per label, its value in the latest recent row where it was known
        if (mask >> REC) & 1:
            missing = Lc
            for c in range(Lc):
                pm[REC, c] = -1.0
            E = s.idx.shape[0]
            for back in range(1, _recent_count(t.ring, t.ring_n, p.global_recent, m, cur) + 1):
                rid = _recent_rid(t.ring, t.ring_pos, p.global_recent, m, cur, back)
                slot = _slot(s.seq, s.start, s.meta, E, rid)
                if slot < 0:
                    continue
                valid[REC] = 1
                for c in range(Lc):
                    if pm[REC, c] < 0.0 and s.known[slot, t.label_map[c]]:
                        pm[REC, c] = s.y[slot, t.label_map[c]]
                        missing -= 1
                if missing == 0:
                    break
            for c in range(Lc):
                if pm[REC, c] < 0.0:
                    pm[REC, c] = _prior(t.lw, t.kw, leaf, c)
        if (mask >> KNN) & 1 or (mask >> KNN_LS) & 1:
            if p.global_recent and kres.shape[0] > 0 and kres[crow, 0] >= 0.0:
                # neighbours searched already (the common case): vote at once. This and the naive
                # Bayes call below are predict_knn's and predict_nb's own steps written out; calling
                # those two instead (no reference counting either way) was slower for iHOMER on
                # yeast in 4 of 4 interleaved rounds (minimum of 15-20 runs: 4-19 %)
                nfound = kept_neighbours(kres, crow, ids, sims)
                found = _knn_vote(
                    t.label_map, t.lw, t.kw, leaf, s.y, s.known, ids, nfound, int(p.knn_k), pm
                )
            else:
                found = predict_knn(
                    t, s, p, m, leaf, xz, norm_x, pm, sims, ids, cache, cache_col, crow, cur, kres,
                )  # fmt: skip
            if found:
                valid[KNN] |= (mask >> KNN) & 1
                valid[KNN_LS] |= (mask >> KNN_LS) & 1
        if (mask >> NB) & 1 and o >= 0:
            if p.dense and _nb_stale(t.o_tot, t.nb_at, o):
                nb_refresh(t, o)
            if _predict_nb(
                t.o_tot, t.o_known, t.o_mass, t.o_s1, t.nb_a, t.nb_b, t.nb_c, t.o_w.shape[2],
                p.dense, p.nb_alpha, o, idx, val, pm, nb_logit,
            ):  # fmt: skip
                valid[NB] = 1
        if (mask >> LR) & 1 and t.weight[leaf] > 0.0:
            _predict_lr(t.lr_w, t.lr_b, m, idx, zval, pm)
            valid[LR] = 1
        # models were skipped relative to the best loss of the models that ran (a skipped model
        # never has a label's best loss); if one of those could not predict here (no complete
        # label set yet, no neighbours, no observers), the skipped models are judged again
        # against the models that did predict
        ran |= mask
        mask = 0
        left = full & ~ran
        if left:  # (nothing skipped, the common case: no more work)
            took = 0
            for i in range(N_MODELS):
                if valid[i]:
                    took |= 1 << i
            if ran & ~took:
                for i in range(N_MODELS):
                    if (left >> i) & 1 and not _negligible(
                        t.loss, m, i, took, p.hedge_eta, p.skip_below
                    ):
                        mask |= 1 << i
    # hedge mixture per label
    eta = p.hedge_eta
    for c in range(Lc):
        lo = np.inf
        for i in range(N_MODELS):
            if valid[i] and t.loss[m, c, i] < lo:
                lo = t.loss[m, c, i]
        num = 0.0
        den = 0.0
        for i in range(N_MODELS):
            if valid[i]:
                w = math.exp(-eta * (t.loss[m, c, i] - lo))
                num += w * pm[i, c]
                den += w
        out[c] = num / den if den > 0.0 else _prior(t.lw, t.kw, leaf, c)


# ---------------------------------------------------------------------------------- learning
@njit
def _labelset_hash(ybits, Lc):
    h = np.uint64(1469598103934665603)
    for c in range(Lc):
        if ybits[c]:
            h ^= np.uint64(c + 1)
            h *= np.uint64(1099511628211)
    return h


@njit
def update_labelsets(t, m, ybits, w):
    """Space-saving count of the leaf's label sets (exact while fewer than K distinct)."""
    _update_labelsets(
        t.ls_hash, t.ls_cnt, t.ls_bits, t.ls_n, t.ls_distinct, t.label_map.shape[0], m, ybits, w
    )


@njit
def _update_labelsets(ls_hash, ls_cnt, ls_bits, ls_n, ls_distinct, Lc, m, ybits, w):
    K = ls_cnt.shape[1]
    h = _labelset_hash(ybits, Lc)
    n = ls_n[m]
    for k in range(n):
        if ls_hash[m, k] == h:
            same = True
            for c in range(Lc):
                if ls_bits[m, k, c] != ybits[c]:
                    same = False
                    break
            if same:
                ls_cnt[m, k] += w
                return
    ls_distinct[m] += 1.0
    if n < K:
        k = n
        ls_n[m] = n + 1
        base = 0.0
    else:
        k = 0
        for j in range(1, K):
            if ls_cnt[m, j] < ls_cnt[m, k]:
                k = j
        base = ls_cnt[m, k]
    ls_hash[m, k] = h
    ls_cnt[m, k] = base + w
    for c in range(Lc):
        ls_bits[m, k, c] = ybits[c]


@njit
def count_row(t, node, w, yrow, krow, full):
    """Add a row of weight ``w`` to ``node``'s label counts: its weight, per label the known
    weight and the positives, and the "no label" outcome (every label known, none positive).
    Returns whether the row is a "no label" row."""
    return _count_row(t.weight, t.kw, t.lw, node, w, yrow, krow, full)


@njit
def _count_row(weight, kw, lw, node, w, yrow, krow, full):
    Lc = kw.shape[1] - 1
    weight[node] += w
    empty = full
    for c in range(Lc):
        if krow[c]:
            kw[node, c] += w
            if yrow[c]:
                lw[node, c] += w
                empty = False
    if full:
        kw[node, Lc] += w
    if empty:
        lw[node, Lc] += w
    return empty


@njit(**NO_REFCOUNT)
def learn_leaf(t, s, p, leaf, idx, val, zval, yrow, krow, full, w, pm, valid, rid, grad, pos_list):
    """Learn one row at a leaf with weight ``w`` (losses of the models are updated even at w=0)."""
    Lc = t.label_map.shape[0]
    m = t.mslot[leaf]
    decay = p.loss_decay
    for c in range(Lc):
        if not krow[c]:
            continue
        yc = float(yrow[c])
        for i in range(N_MODELS):
            if valid[i]:
                err = pm[i, c] - yc
                t.loss[m, c, i] = decay * t.loss[m, c, i] + err * err
    if w <= 0.0:
        return
    empty = _count_row(t.weight, t.kw, t.lw, leaf, w, yrow, krow, full)  # node statistics
    # logistic regression: one SGD step per known label
    if (int(p.models_mask) >> LR) & 1:
        if not valid[LR]:
            # left out of the mixture (negligible, or no weight yet): the gradient still needs
            # the model's own prediction
            _predict_lr(t.lr_w, t.lr_b, m, idx, zval, pm)
        lr = p.learning_rate * w
        for c in range(Lc):
            grad[c] = 0.0
            if krow[c]:
                grad[c] = lr * (float(yrow[c]) - pm[LR, c])
                t.lr_b[m, c] += grad[c]
        for e in range(idx.shape[0]):
            z = zval[e]
            if z != 0.0:
                f = idx[e]
                for c in range(Lc):
                    t.lr_w[m, f, c] += grad[c] * z
    # recent rows
    W = t.ring.shape[1]
    t.ring[m, t.ring_pos[m]] = rid
    t.ring_pos[m] = (t.ring_pos[m] + 1) % W
    if t.ring_n[m] < W:
        t.ring_n[m] += 1
    if full:
        _update_labelsets(t.ls_hash, t.ls_cnt, t.ls_bits, t.ls_n, t.ls_distinct, Lc, m, yrow, w)
    # observers
    o = t.oslot[leaf]
    if o < 0:
        return
    T = Lc + 1
    rowsum = 0.0
    for e in range(idx.shape[0]):
        rowsum += val[e]
    t.o_tot[o, T] += w
    t.o_mass[o, T] += w * rowsum
    t.o_known[o, T] += w
    if full:
        t.o_known[o, Lc] += w
    for c in range(Lc):
        if krow[c]:
            t.o_known[o, c] += w
    if empty:
        t.o_tot[o, Lc] += w
        t.o_mass[o, Lc] += w * rowsum
    for c in range(Lc):
        if krow[c] and yrow[c]:
            t.o_tot[o, c] += w
            t.o_mass[o, c] += w * rowsum
    npos = 0
    for c in range(Lc):
        if krow[c] and yrow[c]:
            pos_list[npos] = c
            npos += 1
    d = t.o_w.shape[2]
    if p.dense and idx.shape[0] == d:
        # a whole dense row (features in order): outcome by outcome over contiguous feature
        # rows, which vectorises; every statistic gets the same single addition as below
        _range_dense(t.o_min[o], t.o_max[o], val)
        _observe_dense(t.o_w[o, T], t.o_s1[o, T], t.o_s2[o, T], val, w)
        if empty:
            _observe_dense(t.o_w[o, Lc], t.o_s1[o, Lc], t.o_s2[o, Lc], val, w)
        for j in range(npos):
            c = pos_list[j]
            _observe_dense(t.o_w[o, c], t.o_s1[o, c], t.o_s2[o, c], val, w)
        return
    for e in range(idx.shape[0]):
        f = idx[e]
        v = val[e]
        if v == 0.0 and not p.dense:
            continue
        wv = w * v
        wv2 = wv * v
        if v < t.o_min[o, f]:
            t.o_min[o, f] = v
        if v > t.o_max[o, f]:
            t.o_max[o, f] = v
        t.o_w[o, T, f] += w
        t.o_s1[o, T, f] += wv
        t.o_s2[o, T, f] += wv2
        if empty:
            t.o_w[o, Lc, f] += w
            t.o_s1[o, Lc, f] += wv
            t.o_s2[o, Lc, f] += wv2
        for j in range(npos):
            c = pos_list[j]
            t.o_w[o, c, f] += w
            t.o_s1[o, c, f] += wv
            t.o_s2[o, c, f] += wv2


@njit
def _observe_dense(ow, os1, os2, val, w):
    """One outcome's Gaussian statistics of a whole dense row of weight ``w``."""
    for f in range(val.shape[0]):
        v = val[f]
        wv = w * v
        ow[f] += w
        os1[f] += wv
        os2[f] += wv * v


@njit
def _range_dense(omin, omax, val):
    """The features' ranges after a whole dense row."""
    for f in range(val.shape[0]):
        v = val[f]
        if v < omin[f]:
            omin[f] = v
        if v > omax[f]:
            omax[f] = v


# ---------------------------------------------------------------------------------- splits
@njit
def _side_entropy(side, total, n_out, q):
    """Sum of the outcomes' binary entropies on one side; ``q[c]`` is the fraction of rows
    where outcome ``c`` was known (1 with complete label sets)."""
    if total <= 0.0:
        return 0.0
    h = 0.0
    for c in range(n_out):
        if q[c] > 0.0:
            h += binary_entropy(side[c] / (total * q[c]))
    return h


@njit
def best_split_for_feature(t, p, o, f, pre_h, means, stds, left, right, q):
    """Best (merit, threshold) of a binary numeric split on feature ``f`` at observer slot ``o``.

    Each outcome's values are a point mass at zero plus a Gaussian of its non-zero values; the
    candidate thresholds are ``n_split_points`` evenly spaced inside the feature's range, plus 0
    when the feature has zeros (the exact zero / non-zero split of sparse data).
    """
    Lc = t.label_map.shape[0]
    T = Lc + 1
    n_out = Lc + 1  # outcomes in the entropy: labels and "no label"
    W = t.o_tot[o, T]
    nz_total = t.o_w[o, T, f]
    if nz_total <= 0.0:
        return -np.inf, 0.0
    has_zeros = nz_total < W * (1.0 - 1e-12)
    lo = t.o_min[o, f]
    hi = t.o_max[o, f]
    if has_zeros:
        lo = min(lo, 0.0)
        hi = max(hi, 0.0)
    if not hi > lo:
        return -np.inf, 0.0
    for c in range(T + 1):
        a = t.o_w[o, c, f]
        if a > 0.0:
            mu = t.o_s1[o, c, f] / a
            var = t.o_s2[o, c, f] / a - mu * mu
            if a > 1.0:
                var *= a / (a - 1.0)
            means[c] = mu
            stds[c] = math.sqrt(var) if var > 0.0 else 0.0
        else:
            means[c] = 0.0
            stds[c] = 0.0
    best = -np.inf
    best_thr = 0.0
    nsp = int(p.n_split_points)
    single_value = t.o_min[o, f] == t.o_max[o, f]
    n_cand = 1 if single_value else nsp + (1 if has_zeros else 0)
    for i in range(n_cand):
        if single_value:
            thr = 0.5 * t.o_min[o, f]  # separates the one non-zero value from the zeros
        elif i < nsp:
            thr = lo + (hi - lo) * (i + 1) / (nsp + 1.0)
        else:
            thr = 0.0
        for c in range(T + 1):
            a = t.o_w[o, c, f]
            z = t.o_tot[o, c] - a
            if z < 0.0:
                z = 0.0
            if thr < t.o_min[o, f]:
                cdf = 0.0
            elif thr >= t.o_max[o, f]:
                cdf = 1.0
            else:
                cdf = normal_cdf(thr, means[c], stds[c])
            lw_ = a * cdf + (z if thr >= 0.0 else 0.0)
            left[c] = lw_
            right[c] = t.o_tot[o, c] - lw_
        lt = left[T]
        rt = right[T]
        frac = p.min_branch_fraction * W
        if (1 if lt > frac else 0) + (1 if rt > frac else 0) < 2:
            continue
        post = (
            lt * _side_entropy(left, lt, n_out, q) + rt * _side_entropy(right, rt, n_out, q)
        ) / (lt + rt)
        merit = pre_h - post
        if merit > best:
            best = merit
            best_thr = thr
    return best, best_thr


@njit
def attempt_split(t, s, p, leaf, means, stds, left, right, q):
    """Hoeffding test at an active leaf: split it, pre-prune it, or wait. Returns True on split."""
    o = t.oslot[leaf]
    Lc = t.label_map.shape[0]
    T = Lc + 1
    W = t.o_tot[o, T]
    t.last[leaf] = t.weight[leaf]
    m = t.mslot[leaf]
    if W <= 0.0 or t.ls_distinct[m] <= 1.0:
        return False  # one label set so far: nothing to separate
    for c in range(Lc + 2):
        q[c] = t.o_known[o, c] / W
    for c in range(Lc + 1):
        if t.o_tot[o, c] > p.max_share_to_split * t.o_known[o, c]:
            return False
    pre = _side_entropy(t.o_tot[o], W, Lc + 1, q)
    d = t.o_w.shape[2]
    best = -np.inf
    second = -np.inf
    best_f = -1
    best_thr = 0.0
    for f in range(d):
        merit, thr = best_split_for_feature(t, p, o, f, pre, means, stds, left, right, q)
        if merit > best:
            second = best
            best = merit
            best_f = f
            best_thr = thr
        elif merit > second:
            second = merit
    null_best = False
    if p.merit_preprune:
        if 0.0 > best:
            second = best
            best = 0.0
            null_best = True
        elif 0.0 > second:
            second = 0.0
    if best_f < 0 and not null_best:
        return False
    rng_ = math.log2(max(t.ls_distinct[m], 2.0))
    eps = math.sqrt(rng_ * rng_ * math.log(1.0 / p.delta) / (2.0 * W))
    if not (best - second > eps or eps < p.tau):
        # with these merits the test passes once the bound falls below their gap or below tau:
        # the next attempt waits until about then (nmin adaptation, Garcia-Martin et al. 2018),
        # at least one grace period and at most GRACE_STRETCH of them
        c2 = rng_ * rng_ * math.log(1.0 / p.delta) / 2.0
        need = c2 / (p.tau * p.tau) if p.tau > 0.0 else np.inf
        gap = best - second
        if gap > 0.0:
            need = min(need, c2 / (gap * gap))
        wait = min(max(need - W, p.grace_period), GRACE_STRETCH * p.grace_period)
        t.last[leaf] = t.weight[leaf] + (wait - p.grace_period)
        return False
    if null_best or best <= 0.0:
        if p.merit_preprune:
            deactivate(t, leaf)
        return False
    return do_split(t, s, p, leaf, best_f, best_thr, means, stds, left, right)


@njit
def deactivate(t, leaf):
    o = t.oslot[leaf]
    if o >= 0:
        free_oslot(t, o)
        t.oslot[leaf] = -1
    if t.active[leaf]:
        t.active[leaf] = 0
        t.meta[M_DEACTIVATED] += 1


@njit
def do_split(t, s, p, leaf, f, thr, means, stds, left, right):
    """Turn ``leaf`` into a branch on ``x[f] <= thr`` with two warm-started children."""
    Lc = t.label_map.shape[0]
    T = Lc + 1
    o = t.oslot[leaf]
    if t.feat.shape[0] - t.meta[M_NODE_HWM] + t.meta[M_NODE_NFREE] < 2:
        t.meta[M_NEED] |= NEED_NODES
        return False
    if t.lr_w.shape[0] - t.meta[M_MSLOT_HWM] + t.meta[M_MSLOT_NFREE] < 1:
        t.meta[M_NEED] |= NEED_MSLOTS
        return False
    # children's initial statistics: the split's estimated class distributions
    best_split_for_feature_at(t, o, f, thr, means, stds, left, right)
    ln = alloc_node(t)
    rn = alloc_node(t)
    m_parent = t.mslot[leaf]
    m_right = alloc_mslot(t)
    copy_mslot(t, m_parent, m_right)
    W = t.o_tot[o, T]
    for child, side, m in ((ln, left, m_parent), (rn, right, m_right)):
        t.parent[child] = leaf
        t.depth[child] = t.depth[leaf] + 1
        t.bg[child] = t.bg[leaf]
        t.mslot[child] = m
        t.weight[child] = side[T]
        for c in range(Lc + 1):
            t.lw[child, c] = side[c]
            # known weight: the leaf's known fraction of the side (as the split merit assumes)
            t.kw[child, c] = side[T] * t.o_known[o, c] / W if W > 0.0 else side[T]
        t.last[child] = side[T]
    # recent rows go where the split sends them
    W = t.ring.shape[1]
    n = t.ring_n[m_parent]
    ids = t.ring[m_parent].copy()
    pos0 = t.ring_pos[m_parent]
    t.ring_n[m_parent] = 0
    t.ring_pos[m_parent] = 0
    t.ring_n[m_right] = 0
    t.ring_pos[m_right] = 0
    for back in range(n, 0, -1):  # oldest first
        rid = ids[(pos0 - back) % W]
        slot = store_slot(s, rid)
        if slot < 0:
            continue
        m = m_parent if store_value(s, slot, f) <= thr else m_right
        t.ring[m, t.ring_pos[m]] = rid
        t.ring_pos[m] = (t.ring_pos[m] + 1) % W
        t.ring_n[m] += 1
    # the parent becomes a branch
    if o >= 0:
        free_oslot(t, o)
    t.oslot[leaf] = -1
    t.mslot[leaf] = -1
    t.feat[leaf] = f
    t.thr[leaf] = thr
    t.left[leaf] = ln
    t.right[leaf] = rn
    t.active[leaf] = 0
    max_depth = p.max_depth
    for child in (ln, rn):
        if t.depth[child] >= max_depth:
            t.active[child] = 0
            t.meta[M_DEACTIVATED] += 1
        else:
            t.oslot[child] = alloc_oslot(t)  # -1 when none is left: the leaf waits for one
    t.meta[M_SPLITS] += 1
    t.meta[M_LEAVES] += 1
    if t.depth[ln] > t.meta[M_MAXDEPTH]:
        t.meta[M_MAXDEPTH] = t.depth[ln]
    return True


@njit
def best_split_for_feature_at(t, o, f, thr, means, stds, left, right):
    """Estimated outcome weights left/right of ``x[f] <= thr`` (same model as the search)."""
    Lc = t.label_map.shape[0]
    T = Lc + 1
    for c in range(T + 1):
        a = t.o_w[o, c, f]
        z = t.o_tot[o, c] - a
        if z < 0.0:
            z = 0.0
        if a > 0.0:
            mu = t.o_s1[o, c, f] / a
            var = t.o_s2[o, c, f] / a - mu * mu
            if a > 1.0:
                var *= a / (a - 1.0)
            sd = math.sqrt(var) if var > 0.0 else 0.0
        else:
            mu = 0.0
            sd = 0.0
        if thr < t.o_min[o, f]:
            cdf = 0.0
        elif thr >= t.o_max[o, f]:
            cdf = 1.0
        else:
            cdf = normal_cdf(thr, mu, sd)
        lw_ = a * cdf + (z if thr >= 0.0 else 0.0)
        left[c] = lw_
        right[c] = t.o_tot[o, c] - lw_


# ---------------------------------------------------------------------------------- the loop
@njit
def row_nodes(depth):
    """Nodes one row can create in a tree of ``depth`` levels (:func:`room_for_a_row`)."""
    return 3 * depth + 4


@njit
def nodes_needed(depth):
    """Free nodes the arrays keep ahead of the rows: a row's worst case plus a margin, so that
    they do not grow on every chunk."""
    return row_nodes(depth) + 8


@njit
def mslots_needed(depth):
    """Free model slots kept ahead of the rows (a row's worst case)."""
    return 2 * depth + 2


@njit
def room_ahead(meta, feat, active, oslot, n_mslots, n_oslots):
    """True when nothing must grow before the next rows (the common case): free nodes and model
    slots for :func:`nodes_needed` / :func:`mslots_needed`, no active leaf waiting for an
    observer slot and two free observer slots. Otherwise the caller grows the arrays
    (:func:`streamlearn.multilabel._treestate.ensure_capacity`)."""
    depth = meta[M_MAXDEPTH] + 1
    n_nodes = feat.shape[0]
    if n_nodes - meta[M_NODE_HWM] + meta[M_NODE_NFREE] < nodes_needed(depth):
        return False
    if n_mslots - meta[M_MSLOT_HWM] + meta[M_MSLOT_NFREE] < mslots_needed(depth):
        return False
    for n in range(n_nodes):
        if oslot[n] < 0 and feat[n] == -1 and active[n] == 1:
            return False  # a leaf waits for an observer slot
    return n_oslots - meta[M_OSLOT_HWM] + meta[M_OSLOT_NFREE] >= 2


@njit
def room_for_a_row(meta, n_nodes, n_mslots):
    """Enough free nodes and model slots (of ``n_nodes`` / ``n_mslots``) for whatever one row
    can create: a split at its leaf and, along its path, alternates started and alternate leaves
    split."""
    depth = meta[M_MAXDEPTH] + 1
    free_nodes = n_nodes - meta[M_NODE_HWM] + meta[M_NODE_NFREE]
    free_mslots = n_mslots - meta[M_MSLOT_HWM] + meta[M_MSLOT_NFREE]
    return free_nodes >= row_nodes(depth) and free_mslots >= mslots_needed(depth)


@njit(inline="always")
def row_error(prob, yrow, krow, thr):
    """Hamming error of a row's decisions over its known labels (0 when none is known)."""
    n = 0
    wrong = 0
    for c in range(prob.shape[0]):
        if krow[c]:
            n += 1
            if (prob[c] > thr) != (yrow[c] != 0):
                wrong += 1
    return wrong / n if n > 0 else 0.0


@njit
def learn_path(t, s, p, top, leaf, xd, w, yrow, krow):
    """Branch statistics of the nodes from ``top`` down to (not including) ``leaf``."""
    Lc = t.label_map.shape[0]
    full = True
    for c in range(Lc):
        if not krow[c]:
            full = False
    node = top
    while node != leaf and t.feat[node] >= 0:
        if w > 0.0:
            _count_row(t.weight, t.kw, t.lw, node, w, yrow, krow, full)
        node = t.left[node] if xd[t.feat[node]] <= t.thr[node] else t.right[node]


@njit
def start_alternate(t, node):
    """A fresh background leaf as ``node``'s alternate subtree (False when no room)."""
    if t.feat.shape[0] - t.meta[M_NODE_HWM] + t.meta[M_NODE_NFREE] < 1:
        t.meta[M_NEED] |= NEED_NODES
        return False
    if t.lr_w.shape[0] - t.meta[M_MSLOT_HWM] + t.meta[M_MSLOT_NFREE] < 1:
        t.meta[M_NEED] |= NEED_MSLOTS
        return False
    a = alloc_node(t)
    t.mslot[a] = alloc_mslot(t)
    t.oslot[a] = alloc_oslot(t)
    t.parent[a] = t.parent[node]
    t.depth[a] = t.depth[node]
    t.bg[a] = 1
    t.active[a] = 1
    t.alt[node] = a
    t.errs[node] = 0.0
    t.errn[node] = 0.0
    t.meta[M_ALT_STARTED] += 1
    return True


@njit
def replace_subtree(t, node, a, stack):
    """Put the alternate ``a`` in ``node``'s place and free ``node``'s subtree."""
    par = t.parent[node]
    t.alt[node] = -1
    if par < 0:
        t.meta[M_ROOT] = a
    elif t.left[par] == node:
        t.left[par] = a
    else:
        t.right[par] = a
    t.parent[a] = par
    set_background(t, a, 0, stack)
    free_subtree(t, node, stack)
    t.meta[M_ALT_SWAPPED] += 1


@njit
def tree_run(
    t,
    s,
    p,
    indptr,
    indices,
    data,
    Y,
    K,
    has_known,
    rid0,
    start,
    stop,
    out,
    ocol,
    do_predict,
    do_learn,
    cache,
    cache_col,
    kres,
    zdata,
    znorm,
    check_room,
):
    """Process rows ``start:stop`` in order: predict each (into ``out``), then learn it.

    ``out[i, ocol[c]]`` gets the probability of the tree's label ``c`` for row ``i`` (``ocol``
    is the tree's ``label_map`` when ``out`` has one column per label of the label matrices).

    With ``check_room``, the call first checks :func:`room_ahead` and returns ``start`` at once
    when something must grow; the caller grows the arrays and calls again without the check
    (:func:`streamlearn.multilabel._treestate.run_tree`).

    ``zdata``/``znorm``: the rows as the learners see them (:func:`prepare_rows`).

    ``rid0`` is the store id of row ``start`` (rows were appended to the store beforehand).

    Returns the row where it stopped: ``stop``, or, while the arrays may still grow
    (``M_GROWABLE``), the first row that needs more room than is left (before that row is
    touched) or the row after one that left a leaf waiting for an observer slot. The caller
    grows the arrays and calls again from there: growth happens at the same rows whatever the
    chunks, so the model does not depend on how rows are split into calls.

    Drift (``p.drift``): every node of the main tree on the row's path feeds its ADWIN with the
    row's Hamming error; a detection where the error went up starts an alternate subtree at a
    branch. An alternate learns and predicts in the background; once both it and the subtree
    it would replace have seen ``drift_window`` rows since it started, it replaces that subtree
    when its error is lower by more than the bound of MLHAT's test, and is dropped when higher.
    """
    if check_room:
        if not room_ahead(t.meta, t.feat, t.active, t.oslot, t.lr_w.shape[0], t.o_w.shape[0]):
            return start
        t.meta[M_NEED] = 0
        t.meta[M_GROWABLE] = 1
    Lc = t.label_map.shape[0]
    d = t.o_w.shape[2]
    xd = np.zeros(d)
    xz = np.zeros(d)
    base = indptr[start]
    pm = np.zeros((N_MODELS, Lc))
    valid = np.zeros(N_MODELS, dtype=np.uint8)
    prob = np.zeros(Lc)
    pm2 = np.zeros((N_MODELS, Lc))
    valid2 = np.zeros(N_MODELS, dtype=np.uint8)
    prob2 = np.zeros(Lc)
    grad = np.zeros(Lc)
    pos_list = np.zeros(Lc, dtype=np.int64)
    nb_logit = np.zeros(Lc)
    yrow = np.zeros(Lc, dtype=np.uint8)
    krow = np.ones(Lc, dtype=np.uint8)
    kmax = 4 * max(int(p.knn_k), 1)
    sims = np.zeros(kmax)
    ids = np.zeros(kmax, dtype=np.int64)
    means = np.zeros(Lc + 2)
    stds = np.zeros(Lc + 2)
    left = np.zeros(Lc + 2)
    right = np.zeros(Lc + 2)
    qbuf = np.ones(Lc + 2)
    path = np.zeros(t.feat.shape[0] + 1, dtype=np.int64)
    stack = np.zeros(t.feat.shape[0] + 2, dtype=np.int64)
    log_alpha = math.log(2.0 / p.switch_significance)
    for i in range(start, stop):
        if (
            do_learn
            and t.meta[M_GROWABLE]
            and not room_for_a_row(t.meta, t.feat.shape[0], t.lr_w.shape[0])
        ):
            return i
        root = t.meta[M_ROOT]
        a = indptr[i]
        b = indptr[i + 1]
        idx = indices[a:b]
        val = data[a:b]
        zv = zdata[a - base : b - base]
        crow = i - start
        # id of this row in the store when it is being learned; otherwise rows up to the store's
        # newest are all in the past
        cur = rid0 + crow if do_learn else s.meta[0]
        norm_x = znorm[crow]
        # a whole dense row (features in order) is its own dense vector; others are scattered
        whole = p.dense and b - a == d
        if whole:
            rd = val
            rz = zv
        else:
            scatter_row(idx, val, zv, xd, xz)
            rd = xd
            rz = xz
        leaf = route(t, root, rd)
        predict_leaf(
            t, s, p, leaf, idx, zv, rz, norm_x, val, pm, valid, prob, sims, ids,
            nb_logit, cache, cache_col, crow, cur, kres,
        )  # fmt: skip
        if do_predict:
            for c in range(Lc):
                out[i, ocol[c]] = prob[c]
        if not do_learn:
            if not whole:
                clear_row(idx, xd, xz)
            continue
        full = True
        for c in range(Lc):
            col = t.label_map[c]
            yrow[c] = Y[i, col]
            if has_known:
                krow[c] = K[i, col]
                if not krow[c]:
                    full = False
        w = 1.0
        if p.bagging_rate > 0.0:
            w = float(rng_poisson(t.rng, p.bagging_rate))
        rid = rid0 + crow
        # the main path: statistics and node detectors
        err = row_error(prob, yrow, krow, p.threshold)
        depth = 0
        node = root
        while True:
            path[depth] = node
            depth += 1
            if p.drift:
                before = adwin_estimation(t.adw[node])
                if adwin_update(t.adw[node], err):
                    t.meta[M_NODE_DRIFTS] += 1
                    if (
                        t.feat[node] >= 0
                        and t.alt[node] < 0
                        and adwin_estimation(t.adw[node]) > before
                    ):
                        start_alternate(t, node)
            if t.feat[node] < 0:
                break
            if w > 0.0:
                _count_row(t.weight, t.kw, t.lw, node, w, yrow, krow, full)
            node = t.left[node] if rd[t.feat[node]] <= t.thr[node] else t.right[node]
        learn_leaf(
            t, s, p, leaf, idx, val, zv, yrow, krow, full, w, pm, valid, rid, grad, pos_list,
        )  # fmt: skip
        if w > 0.0:
            t.metaf[MF_WEIGHT] += w
            if (
                t.active[leaf]
                and t.oslot[leaf] >= 0
                and t.weight[leaf] - t.last[leaf] >= p.grace_period
            ):
                attempt_split(t, s, p, leaf, means, stds, left, right, qbuf)
        # alternate subtrees on the path, top down (a swap frees everything below it)
        for j in range(depth):
            node = path[j]
            alt = t.alt[node]
            if alt < 0:
                continue
            aleaf = route(t, alt, rd)
            predict_leaf(
                t, s, p, aleaf, idx, zv, rz, norm_x, val, pm2, valid2, prob2, sims,
                ids, nb_logit, cache, cache_col, crow, cur, kres,
            )  # fmt: skip
            err_alt = row_error(prob2, yrow, krow, p.threshold)
            learn_path(t, s, p, alt, aleaf, rd, w, yrow, krow)
            learn_leaf(
                t, s, p, aleaf, idx, val, zv, yrow, krow, full, w, pm2, valid2, rid, grad,
                pos_list,
            )  # fmt: skip
            if (
                w > 0.0
                and t.active[aleaf]
                and t.oslot[aleaf] >= 0
                and t.weight[aleaf] - t.last[aleaf] >= p.grace_period
            ):
                attempt_split(t, s, p, aleaf, means, stds, left, right, qbuf)
            t.errs[node] += err
            t.errn[node] += 1.0
            t.errs[alt] += err_alt
            t.errn[alt] += 1.0
            if t.errn[node] >= p.drift_window and t.errn[alt] >= p.drift_window:
                e_main = t.errs[node] / t.errn[node]
                e_alt = t.errs[alt] / t.errn[alt]
                bound = math.sqrt(
                    2.0
                    * e_main
                    * (1.0 - e_main)
                    * log_alpha
                    * (1.0 / t.errn[alt] + 1.0 / t.errn[node])
                )
                if e_main - e_alt > bound:
                    replace_subtree(t, node, alt, stack)
                    break
                if e_alt - e_main > bound:
                    t.alt[node] = -1
                    free_subtree(t, alt, stack)
                    t.meta[M_ALT_PRUNED] += 1
        if not whole:
            clear_row(idx, xd, xz)
        if do_learn and t.meta[M_GROWABLE] and t.meta[M_NEED] & NEED_OSLOTS:
            return i + 1
    return stop


@njit
def dense_to_csr(X):
    """CSR arrays of a dense matrix with every entry explicit (zeros included)."""
    n, d = X.shape
    indptr = np.arange(0, n * d + 1, d).astype(np.int64)
    indices = np.empty(n * d, dtype=np.int64)
    for i in range(n):
        for j in range(d):
            indices[i * d + j] = j
    return indptr, indices, X.ravel()
