import math

import pytest
import torch

from hsiae.losses import SpectralLoss, gradient_loss, spectral_angle


def test_spectral_angle_known_values():
    x = torch.tensor([[1.0, 0.0], [1.0, 1.0], [1.0, 2.0], [3.0, 4.0]])
    y = torch.tensor([[0.0, 1.0], [-1.0, -1.0], [2.0, 4.0], [3.0, 4.0]])
    angles = spectral_angle(x, y, reduction="none")
    torch.testing.assert_close(angles, torch.tensor([math.pi / 2, math.pi, 0.0, 0.0]), atol=1e-6, rtol=0)
    assert float(spectral_angle(x, y)) == pytest.approx(float(angles.mean()))


def test_spectral_angle_is_finite_for_zero_spectra_with_finite_gradients():
    x = torch.zeros(3, 8, requires_grad=True)
    y = torch.cat([torch.zeros(1, 8), torch.ones(2, 8)])
    angles = spectral_angle(x, y, reduction="none")
    torch.testing.assert_close(angles, torch.tensor([0.0, math.pi / 2, math.pi / 2]))
    angles.sum().backward()
    assert torch.all(torch.isfinite(x.grad))


def test_spectral_angle_gradient_is_finite_for_identical_spectra():
    x = torch.randn(4, 16, requires_grad=True)
    spectral_angle(x, x.detach().clone()).backward()
    assert torch.all(torch.isfinite(x.grad))


def test_gradient_loss_keeps_the_sign_of_slopes():
    up = torch.linspace(0, 1, 10)[None]
    down = torch.flip(up, dims=[1])
    assert float(gradient_loss(up, up + 5)) == pytest.approx(0.0)  # offset: same slopes
    assert float(gradient_loss(up, down)) > 0  # same |slope|, opposite sign
    assert float(gradient_loss(torch.ones(2, 1), torch.zeros(2, 1))) == 0.0


def test_composite_loss_is_the_weighted_sum():
    torch.manual_seed(0)
    x, y = torch.randn(5, 12), torch.randn(5, 12)
    mse = torch.mean((x - y) ** 2)
    expected = 2.0 * mse + 0.5 * spectral_angle(x, y) + 3.0 * gradient_loss(x, y)
    got = SpectralLoss(mse_weight=2.0, sam_weight=0.5, gradient_weight=3.0)(x, y)
    torch.testing.assert_close(got, expected)
    assert float(SpectralLoss()(x, x)) == 0.0


def test_sam_offset_shifts_both_spectra_before_the_angle():
    x = torch.tensor([[-1.0, 1.0]])
    y = torch.tensor([[1.0, -1.0]])
    # centred, the two are opposite; shifted by 1 they are (0, 2) and (2, 0): orthogonal
    assert float(SpectralLoss(0, 1, 0)(x, y)) == pytest.approx(math.pi, abs=1e-3)
    assert float(SpectralLoss(0, 1, 0, sam_offset=1.0)(x, y)) == pytest.approx(math.pi / 2, abs=1e-6)


def test_mae_weight_adds_the_mean_absolute_error():
    x = torch.tensor([[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]])
    y = torch.tensor([[0.0, 3.0, 2.0], [1.0, 0.0, 1.0]])
    mae = SpectralLoss(mse_weight=0.0, sam_weight=0.0, gradient_weight=0.0, mae_weight=1.0)
    assert float(mae(x, y)) == pytest.approx(3.0 / 6)
    both = SpectralLoss(mae_weight=2.0)(x, y) - SpectralLoss()(x, y)
    assert float(both) == pytest.approx(2 * 3.0 / 6)
