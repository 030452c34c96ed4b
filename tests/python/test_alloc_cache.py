"""The default allocator keeps recently freed large blocks (src/core/tensor.c): results
built in reused memory must not depend on what the block held before."""
import threading

import ctorch
from helpers import check


def test_reused_blocks_start_clean():
    n = 300_000  # 1.2 MB of float32: above the cache's minimum block
    for _ in range(3):
        a = ctorch.full((n,), 7.0)
        del a
        z = ctorch.zeros(n)
        assert z.sum().item() == 0.0
        o = ctorch.ones(n // 2, 2)
        assert o.sum().item() == float(n)
        del z, o


def test_reused_blocks_values_match_torch():
    check(lambda lib: (lib.arange(400_000, dtype=lib.float32) * 2 + 1).sum(dim=0))
    check(lambda lib: lib.zeros(70_000, 8, dtype=lib.float64).add(1).cumsum(0)[-1])


def test_sizes_round_trip():
    # blocks of neighbouring sizes come back from the cache: every result stays exact
    for n in (65_536, 70_000, 80_000, 65_536, 100_000, 90_000, 1_000_000, 900_000):
        x = ctorch.arange(n, dtype=ctorch.int64)
        assert x[-1].item() == n - 1 and x.sum().item() == n * (n - 1) // 2


def test_threads_share_the_cache():
    errors = []

    def work(seed):
        try:
            for i in range(20):
                n = 100_000 + 1000 * ((seed + i) % 7)
                x = ctorch.full((n,), float(seed))
                if x.sum().item() != float(seed) * n:
                    errors.append((seed, i))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    ts = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert errors == []
