"""``make demo``: map a CPU-bound function over each local pool, print a table.

Run as ``python -m pathos_magics.demo``.
"""
from __future__ import annotations

import time


def _busy(n: int) -> int:
    """About 20 ms of pure-Python work."""
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


def main() -> None:
    from .pools import ProcessPool, SerialPool, ThreadPool, cpu_count

    tasks, size = 32, 200_000
    nodes = max(2, cpu_count())
    print(f"mapping a CPU-bound function over {tasks} tasks; {cpu_count()} CPUs here\n")
    print(f"{'pool':<28}{'time (s)':>10}{'speedup':>10}")
    serial_time = None
    expected = None
    for pool in (SerialPool(), ThreadPool(nodes), ProcessPool(nodes)):
        pool.map(_busy, [10] * nodes)                 # warm up the workers
        start = time.perf_counter()
        result = pool.map(_busy, [size] * tasks)
        took = time.perf_counter() - start
        expected = expected or result
        assert result == expected, f"{pool!r} returned different results"
        serial_time = serial_time or took
        print(f"{repr(pool):<28}{took:>10.3f}{serial_time / took:>9.2f}x")
        pool.clear()
    print("\nthreads share one GIL, so pure-Python work needs processes;"
          " the speedup of processes is bounded by the CPUs above.")


if __name__ == "__main__":
    main()
