"""pathos_magics.helpers (a package, as pathos.helpers) and helpers.mp_helper."""
from __future__ import annotations

import random
import sys

import multiprocess
import multiprocess.dummy
import multiprocess.pool
import pytest

from pathos_magics import helpers, pools
from pathos_magics.helpers import mp_helper


def test_names_as_in_pathos_helpers():
    assert helpers.mp is multiprocess
    assert helpers.mp_helper is mp_helper
    assert helpers.cpu_count is pools.cpu_count and helpers.shutdown is pools.shutdown
    assert helpers.freeze_support is multiprocess.freeze_support
    assert helpers.ProcessPool is multiprocess.pool.Pool
    assert helpers.ThreadPool is multiprocess.dummy.Pool


def test_starargs_on_a_raw_pool():
    star = mp_helper.starargs(pow)
    assert star((2, 5)) == 32
    assert star.__doc__.endswith("compressed into a single argument")
    pool = helpers.ThreadPool(2)
    try:
        assert pool.map(star, zip([1, 2, 3], [2, 2, 2])) == [1, 4, 9]
    finally:
        pool.close()
        pool.join()


def test_starargs_of_an_undocumented_function():
    assert mp_helper.starargs(lambda a, b: a - b).__doc__ is None


def test_random_state_default_is_the_random_module():
    assert mp_helper.random_state() is random
    assert mp_helper.random_state(random) is random


def test_random_state_new_and_seeded():
    a = mp_helper.random_state(new=True, seed=7)
    b = mp_helper.random_state("random", new=True, seed=7)
    assert isinstance(a, random.Random) and a is not b
    assert a.random() == b.random()


def test_random_state_star_seed_differs_per_process():
    # '*' seeds from the pid and the clock: two generators made the same
    # way in one process still differ (the clock moved), and every call works.
    values = {mp_helper.random_state(new=True, seed="*").random() for _ in range(3)}
    assert len(values) >= 2


def test_random_state_of_a_module_without_a_generator():
    with pytest.raises(AttributeError):
        mp_helper.random_state(sys)


def test_random_seed_seeds_random():
    mp_helper.random_seed(3)
    first = random.random()
    mp_helper.random_seed(3)
    assert random.random() == first


def test_random_state_in_pool_workers_differs():
    # pathos/tests/test_random.py's point, on our pool
    def draw(x):
        from pathos_magics.helpers import mp_helper as mp
        return mp.random_state("random").random() + x

    with pools.ProcessPool(2) as pool:
        res = pool.map(draw, [0, 0, 0, 0])
    assert len(set(res)) == 4
