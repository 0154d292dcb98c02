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
