"""The pending store of late labels against a naive model (a list scanned every time)."""

from __future__ import annotations

import pickle

from hypothesis import given, settings
from hypothesis import strategies as st

from streamlearn.service.join import PendingStore


class NaivePending:
    """Obvious twin: a list of (key, time, item); everything recomputed by scanning."""

    def __init__(self, ttl: float, max_size: int) -> None:
        self.ttl, self.max_size = ttl, max_size
        self.items: list[tuple[str, float, object]] = []
        self.expired = 0
        self.evicted = 0

    def put(self, key: str, item: object, now: float) -> None:
        self.items = [e for e in self.items if e[0] != key]
        self.items.append((key, now, item))
        while len(self.items) > self.max_size:
            self.items.pop(0)
            self.evicted += 1

    def pop(self, key: str, now: float) -> object | None:
        for k, e in enumerate(self.items):
            if e[0] == key:
                del self.items[k]
                if now - e[1] > self.ttl:
                    self.expired += 1
                    return None
                return e[2]
        return None

    def expire(self, now: float) -> int:
        keep = [e for e in self.items if e[1] >= now - self.ttl]
        n = len(self.items) - len(keep)
        self.items = keep
        self.expired += n
        return n


ops = st.lists(
    st.tuples(
        st.sampled_from(["put", "pop", "expire", "tick"]),
        st.integers(0, 7),
        st.floats(0.0, 4.0, allow_nan=False),
    ),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(ops=ops, ttl=st.floats(0.5, 6.0), max_size=st.integers(1, 5))
def test_matches_naive_model(ops: list, ttl: float, max_size: int) -> None:
    now = [0.0]
    store = PendingStore(ttl, max_size, clock=lambda: now[0])
    twin = NaivePending(ttl, max_size)
    for op, k, dt in ops:
        key = f"k{k}"
        if op == "put":
            before = [e[0] for e in twin.items]
            evicted = store.put(key, (key, now[0]))
            twin.put(key, (key, now[0]), now[0])
            after = {e[0] for e in twin.items}
            assert [k for k, _ in evicted] == [k for k in before if k not in after and k != key]
        elif op == "pop":
            assert store.pop(key) == twin.pop(key, now[0])
        elif op == "expire":
            assert len(store.expire()) == twin.expire(now[0])
        else:
            now[0] += dt
        assert len(store) == len(twin.items)
        assert store.expired_ttl == twin.expired
        assert store.evicted_size == twin.evicted
        assert [k for k in store._items] == [e[0] for e in twin.items]


def test_pickles_with_counts_and_deadlines() -> None:
    store = PendingStore(10.0, 3)
    store.put("a", [1, 2])
    store.put("b", None)
    restored = pickle.loads(pickle.dumps(store))
    assert len(restored) == 2 and restored.pop("a") == [1, 2]
    assert restored.ttl == 10.0 and restored.max_size == 3


def test_rejects_bad_bounds() -> None:
    import pytest

    with pytest.raises(ValueError):
        PendingStore(0, 3)
    with pytest.raises(ValueError):
        PendingStore(1.0, 0)


def test_the_stores_are_bounded_in_bytes_too() -> None:
    import pickle

    import numpy as np

    from streamlearn.service.join import LabelJoin, Waiting

    store = PendingStore(10.0, 100, max_bytes=1000)
    assert store.put("a", "xa", 400) == [] and store.put("b", "xb", 400) == []
    assert store.put("c", "xc", 400) == [("a", "xa")]  # 1200 > 1000: the oldest goes
    assert store.nbytes == 800 and store.evicted_size == 1
    assert store.put("huge", "x", 5000) == [("b", "xb"), ("c", "xc"), ("huge", "x")]
    assert store.nbytes == 0 and len(store) == 0
    store.put("d", "xd", 300)
    assert store.pop("d") == "xd" and store.nbytes == 0
    # a join: rows and records are measured
    join = LabelJoin(10.0, 10.0, 1000, max_bytes=10_000)
    for i in range(5):
        join.wait_for_labels(f"e{i}", Waiting(np.zeros(500), np.zeros(3), i))  # ~4 KB each
    assert len(join.pending) == 2 and join.pending.nbytes <= 10_000
    from streamlearn.service.shard import InRecord

    rec = InRecord("t.labels", 0, 0, b"x" * 6000, None)
    assert join.wait_for_event("l1", (rec, None)) == []
    assert [k for k, _ in join.wait_for_event("l2", (rec, None))] == ["l1"]
    back = pickle.loads(pickle.dumps(join))
    assert back.pending.nbytes == join.pending.nbytes and back.pending.max_bytes == 10_000


def test_a_store_pickled_before_the_byte_bound_loads() -> None:
    import pickle

    store = PendingStore(10.0, 3)
    store.put("a", "xa")
    state = store.__getstate__()
    state.pop("nbytes"), state.pop("max_bytes")
    state["_items"] = type(state["_items"])(
        (k, (t, it)) for k, (t, it, _) in state["_items"].items()
    )
    old = PendingStore.__new__(PendingStore)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.pop("a") == "xa" and old.nbytes == 0 and old.max_bytes is None
