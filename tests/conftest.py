"""Shared pytest fixtures for the hsiae test suite (the thread settings are in the root conftest.py)."""

import pytest


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
