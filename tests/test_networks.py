import pytest
import torch

from hsiae.networks import ConvAED, DenseAE, _PhaseConvTranspose1d, _Tanh, conv_stage_plan, inference_copy


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


def _trained_looking(module, n_bands, seed=0):
    """A module whose BatchNorm statistics, affine parameters and gates are not the defaults."""
    gen = torch.Generator().manual_seed(seed)
    module.train()
    with torch.no_grad():
        for _ in range(3):
            module(2 * torch.rand(64, n_bands, generator=gen) - 0.5)
        for m in module.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.weight.uniform_(0.5, 1.5, generator=gen)
                m.bias.uniform_(-0.3, 0.3, generator=gen)
        if getattr(module, "linear_path", False):
            module.path_gates.fill_(0.7)
    return module.eval()


@pytest.mark.parametrize(
    "make, n_bands",
    [
        (lambda n: ConvAED(n, zdims=6, linear_path=True), 512),
        (lambda n: ConvAED(n, zdims=6), 204),
        (lambda n: ConvAED(n, zdims=3, channels=(3, 5)), 7),
        (lambda n: ConvAED(n, zdims=4, kernel_size=5, stride=3, padding=2), 100),
        (lambda n: ConvAED(n, zdims=4, kernel_size=4, stride=2, padding=0), 33),
        (lambda n: DenseAE(n, zdims=4, hidden_sizes=(16, 8), linear_path=True), 40),
    ],
)
def test_inference_copy_gives_the_same_outputs_and_leaves_the_module_alone(make, n_bands):
    module = _trained_looking(make(n_bands), n_bands)
    before = {k: v.clone() for k, v in module.state_dict().items()}
    fast = inference_copy(module)
    assert not any(isinstance(m, (torch.nn.BatchNorm1d, torch.nn.ConvTranspose1d)) for m in fast.modules())
    x = 2 * torch.rand(300, n_bands, generator=torch.Generator().manual_seed(1)) - 0.5
    with torch.no_grad():
        decoded, encoded = module(x)
    with torch.inference_mode():
        fast_decoded, fast_encoded = fast(x)
        torch.testing.assert_close(fast.decode(fast.encode(x)), fast_decoded, atol=1e-5, rtol=0)
    torch.testing.assert_close(fast_encoded, encoded, atol=1e-5, rtol=0)
    torch.testing.assert_close(fast_decoded, decoded, atol=1e-5, rtol=0)
    for k, v in module.state_dict().items():
        torch.testing.assert_close(v, before[k], atol=0, rtol=0)


@pytest.mark.parametrize("k, s, p, op, length", [(4, 2, 1, 0, 32), (3, 1, 1, 0, 7), (5, 3, 2, 2, 10), (4, 2, 0, 1, 9)])
def test_phase_convolution_equals_the_transposed_convolution(k, s, p, op, length):
    conv_t = torch.nn.ConvTranspose1d(3, 2, k, s, p, output_padding=op)
    x = torch.randn(5, 3, length)
    with torch.no_grad():
        torch.testing.assert_close(_PhaseConvTranspose1d(conv_t)(x), conv_t(x), atol=1e-6, rtol=0)


def test_tanh_matches_torch_in_value_and_gradient():
    x = torch.linspace(-30, 30, 10001, requires_grad=True)
    y = _Tanh()(x)
    torch.testing.assert_close(y, torch.tanh(x), atol=3e-7, rtol=0)
    (grad,) = torch.autograd.grad(y.sum(), x)
    (expected,) = torch.autograd.grad(torch.tanh(x).sum(), x)
    torch.testing.assert_close(grad, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize(
    "architecture, params",
    [
        ("conv", {}),
        ("conv", {"channels": (32, 64)}),
        ("dense", {"hidden_sizes": (512, 256, 64)}),
        ("lstm", {"n_layers": 2, "d_model": 64}),
        ("transformer", {"n_layers": 2, "d_model": 64, "n_heads": 8}),
    ],
)
def test_the_activation_estimate_covers_every_layer_output(architecture, params):
    from hsiae import AEDEncoder
    from hsiae.encoder import _ARCHITECTURES

    enc = AEDEncoder(zdims=8, architecture=architecture, **params)
    with torch.device("meta"):
        module = _ARCHITECTURES[architecture](**enc._module_params(256))
    outputs = []
    for m in module.modules():
        m.register_forward_hook(
            lambda m, i, out: outputs.extend(
                t.numel() for t in (out if isinstance(out, tuple) else (out,)) if isinstance(t, torch.Tensor)
            )
        )
    module(torch.empty(2, 256, device="meta"))
    # at least every layer's output; LSTM and attention keep more inside their layers than they output
    assert sum(outputs) / 2 <= module.activations_per_spectrum() <= 10 * sum(outputs) / 2
