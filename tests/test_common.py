"""scikit-learn's estimator checks over every public estimator, in fast settings."""

import pytest
from sklearn.utils.estimator_checks import check_param_validation, parametrize_with_checks

from hsiae import AEDEncoder, AEUnmixer, SpatialGMMSegmenter, SpectralResampler


def _instances():
    return [
        SpectralResampler(n_bands=16),
        SpectralResampler(n_bands=9, method="cubic", scaling="standard"),
        AEDEncoder(zdims=2, channels=(2, 3), max_epochs=2, batch_size=16, random_state=0),
        AEDEncoder(zdims=2, channels=(2,), max_epochs=2, validation_fraction=0, random_state=0),
        AEDEncoder(zdims=2, architecture="dense", hidden_sizes=(8,), max_epochs=2, random_state=0),
        AEDEncoder(zdims=2, architecture="lstm", d_model=4, max_epochs=2, random_state=0),
        AEDEncoder(zdims=2, architecture="transformer", d_model=4, n_heads=2, max_epochs=2, random_state=0),
        SpatialGMMSegmenter(n_clusters=3, random_state=0),
        AEUnmixer(n_endmembers=2, hidden_sizes=(4,), max_epochs=2, random_state=0),
        AEUnmixer(n_endmembers=2, normalize=None, init="random", max_epochs=2, random_state=0),
        SpatialGMMSegmenter(n_clusters=3, covariance_type="shaded", equal_weights=True, random_state=0),
    ]


# estimator class -> {check name: reason}, for checks it is known to fail.
EXPECTED_FAILURES = {}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILURES.get(type(estimator).__name__, {})


# strict: a listed check that starts to pass fails the suite, so the list cannot go stale
@parametrize_with_checks(_instances(), expected_failed_checks=_expected_failed_checks, xfail_strict=True)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", _instances(), ids=lambda e: type(e).__name__)
def test_param_validation(estimator):
    check_param_validation(type(estimator).__name__, estimator)
