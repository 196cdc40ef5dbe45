"""Shared pytest fixtures for the hsiae test suite."""

import pytest


@pytest.fixture(scope="session", autouse=True)
def _single_threaded():
    """Run torch and BLAS on one thread for the whole suite.

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


@pytest.fixture(scope="session")
def data_home():
    """The folder with the real scenes (``HSIAE_DATA`` or ``../shared/data``); skip if absent."""
    # Imported here so that a broken hsiae.datasets fails only the tests that use real data.
    from hsiae.datasets import get_data_home

    path = get_data_home()
    if not path.is_dir():
        pytest.skip(
            f"real hyperspectral scenes not found in {path}; set HSIAE_DATA to the folder "
            f"holding salinas_a/, samson/ and jasper_ridge/ to run this test"
        )
    return path
