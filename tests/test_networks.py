import pytest
import torch

from hsiae.networks import ConvAED, conv_stage_plan


@pytest.mark.parametrize("n_bands", [1, 2, 3, 7, 8, 155, 204, 224, 270, 511, 512, 1999, 2000])
def test_any_band_count_round_trips_to_the_exact_length(n_bands):
    module = ConvAED(n_bands, zdims=5).eval()
    decoded, encoded = module(torch.randn(3, n_bands))
    assert decoded.shape == (3, n_bands)
    assert encoded.shape == (3, 5)


def test_default_plan_halves_the_length_at_each_stage():
    plan = conv_stage_plan(512, 4)
    assert [s[4] for s in plan] == [256, 128, 64, 32]
    assert all(s[:3] == (4, 2, 1) for s in plan)


def test_short_spectra_stop_downsampling_instead_of_vanishing():
    plan = conv_stage_plan(7, 4)
    assert [s[4] for s in plan] == [3, 3, 3, 3]


def test_building_the_network_leaves_batchnorm_statistics_untouched():
    module = ConvAED(204, zdims=8)
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm1d):
            assert int(m.num_batches_tracked) == 0
            assert torch.all(m.running_mean == 0) and torch.all(m.running_var == 1)


@pytest.mark.parametrize("activation", ["relu", "softplus"])
def test_non_negative_latent(activation):
    module = ConvAED(40, zdims=6, latent_activation=activation).eval()
    assert torch.all(module.encode(torch.randn(50, 40)) >= 0)


def test_encode_decode_compose_to_forward():
    module = ConvAED(33, zdims=4).eval()
    x = torch.randn(6, 33)
    decoded, encoded = module(x)
    torch.testing.assert_close(module.decode(module.encode(x)), decoded)
    torch.testing.assert_close(module.encode(x), encoded)
