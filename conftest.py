"""pytest configuration for the whole checkout: the tests in ``tests/`` and the docstring examples in ``hsiae/``."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _single_threaded():
    """Run torch and BLAS on one thread for the whole suite, doctests included.

    The networks and mixtures in the tests are tiny: extra threads buy little on
    an idle machine and make them many times slower when other jobs compete for
    the cores. No asserted behaviour depends on the thread count.
    """
    import torch
    from threadpoolctl import threadpool_limits

    n_threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with threadpool_limits(limits=1):
        yield
    torch.set_num_threads(n_threads)
