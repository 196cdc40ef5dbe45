"""Torch modules: spectral autoencoders over per-pixel spectra.

Every module maps a batch of spectra ``(n, n_bands)`` to ``(decoded, encoded)``
with ``decoded`` of shape ``(n, n_bands)`` and ``encoded`` of shape
``(n, zdims)``, and has ``encode`` and ``decode`` methods. This is the contract
:class:`hsiae.AEDEncoder` relies on.
"""

import copy

import torch
from torch import nn

__all__ = [
    "ConvAED",
    "DenseAE",
    "LSTMAE",
    "TransformerAE",
    "conv_stage_plan",
    "default_token_size",
    "inference_copy",
]


def _conv_out_length(length, kernel_size, stride, padding):
    return (length + 2 * padding - kernel_size) // stride + 1


def conv_stage_plan(n_bands, n_stages, kernel_size=4, stride=2, padding=1):
    """Plan the encoder stages: kernel, stride, padding and lengths of each.

    A stage downsamples with ``(kernel_size, stride, padding)`` as long as its
    output keeps at least two positions. Once a spectrum is that short, the
    remaining stages keep its length (kernel 3, stride 1, padding 1), so any
    band count, down to a single band, gets a valid network.

    The lengths are computed arithmetically, never by a trial forward pass,
    which would update BatchNorm's running statistics before training.

    Parameters
    ----------
    n_bands : int
        Length of the input spectra.
    n_stages : int
        Number of convolution stages.
    kernel_size, stride, padding : int
        Geometry of a downsampling stage.

    Returns
    -------
    stages : list of tuple
        ``(kernel_size, stride, padding, length_in, length_out,
        output_padding)`` for each stage, where ``output_padding`` is what the
        mirrored ``ConvTranspose1d`` needs to give back exactly ``length_in``.
    """
    stages = []
    length = n_bands
    for _ in range(n_stages):
        k, s, p = kernel_size, stride, padding
        out = _conv_out_length(length, k, s, p)
        if out < 2 or out >= length and s > 1:
            k, s, p = 3, 1, 1
            out = length
        # ConvTranspose1d(k, s, p) maps out -> (out - 1) * s - 2p + k + output_padding.
        output_padding = length - ((out - 1) * s - 2 * p + k)
        stages.append((k, s, p, length, out, output_padding))
        length = out
    return stages


class _TanhFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(2 * x).mul_(2).sub_(1)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return torch.ops.aten.tanh_backward(grad, y)


class _Tanh(nn.Module):
    """``tanh(x)`` computed as ``2 sigmoid(2x) - 1``, with tanh's own backward.

    The same function as :class:`torch.nn.Tanh` (within 2e-7), but torch's CPU
    ``tanh`` kernel is several times slower than its ``sigmoid`` kernel, and
    the network's activations are a large share of its training time. No parameters: the ``state_dict`` is that of
    ``nn.Tanh``.
    """

    def forward(self, x):
        return _TanhFunction.apply(x)


_LATENT_ACTIVATIONS = {None: nn.Identity, "relu": nn.ReLU, "softplus": nn.Softplus}


class _Autoencoder(nn.Module):
    """Base class: subclasses define ``_encode`` and ``_decode``; ``forward`` returns both results.

    With ``linear_path=True`` a linear encoder and decoder run beside the
    network: ``encode(x) = P (x - mean) + g_e * network_encode(x)`` and
    ``decode(z) = P^T z + mean + g_d * network_decode(z)``, with the gates
    ``g`` starting at 0. :meth:`fit_linear_path` sets ``P`` to the principal
    axes of the training spectra, so training starts from the PCA
    reconstruction (the best any rank-``zdims`` linear map can do in mean
    squared error) and the network learns what PCA misses. The decoder's
    linear part multiplies each code by a gain, ``P^T (gains * z)``; the
    gains are 1 unless :meth:`wiener_gains` sets them (denoising).
    """

    def _init_linear_path(self, n_bands, zdims, linear_path):
        self.n_bands_in, self.zdims = int(n_bands), int(zdims)
        self.linear_path = bool(linear_path)
        if self.linear_path:
            self.register_buffer("path_mean", torch.zeros(n_bands))
            self.path_encoder = nn.Linear(n_bands, zdims, bias=False)
            self.path_decoder = nn.Linear(zdims, n_bands, bias=False)
            # Fixed once fitted: Adam's steps of ~lr per weight would blur the principal axes.
            self.path_encoder.weight.requires_grad_(False)
            self.path_decoder.weight.requires_grad_(False)
            self.path_gates = nn.Parameter(torch.zeros(2))
            self.register_buffer("path_gains", torch.ones(zdims))

    @torch.no_grad()
    def fit_linear_path(self, X, max_rows=50_000):
        """Set the linear path to the principal axes of spectra ``X`` (a 2-D tensor).

        Uses an evenly spaced subset of at most ``max_rows`` rows; the axes
        come from the float64 covariance. Returns the variances along all
        principal axes, largest first (None without a linear path), for
        :meth:`wiener_gains`.
        """
        if not self.linear_path:
            return None
        step = max(1, -(-len(X) // max_rows))
        sample = X[::step]
        # float64 in blocks of rows: a float64 copy of the whole sample would be
        # 4x the float32 spectra it is taken from (200 MB at 512 bands).
        blocks = range(0, len(sample), 4096)
        mean = sum(sample[i : i + 4096].to(torch.float64).sum(dim=0) for i in blocks) / len(sample)
        cov = sample.new_zeros((sample.shape[1], sample.shape[1]), dtype=torch.float64)
        for i in blocks:
            centred = sample[i : i + 4096].to(torch.float64) - mean
            cov += centred.T @ centred
        cov /= max(1, len(sample) - 1)
        values, vectors = torch.linalg.eigh(cov)
        zdims = self.path_encoder.out_features
        axes = vectors[:, -zdims:].flip(1)  # (n_bands, k), largest variance first
        if axes.shape[1] < zdims:  # fewer bands than zdims: pad with zero axes
            axes = torch.cat([axes, axes.new_zeros(axes.shape[0], zdims - axes.shape[1])], dim=1)
        dtype = self.path_encoder.weight.dtype
        self.path_mean.copy_(mean.to(dtype))
        self.path_encoder.weight.copy_(axes.T.to(dtype))
        self.path_decoder.weight.copy_(axes.to(dtype))
        self.path_gates.zero_()
        self.path_gains.fill_(1.0)
        return values.flip(0)

    @torch.no_grad()
    def wiener_gains(self, variances):
        """Set the decoder's per-axis gains to Wiener's ``(var - noise) / var``; returns the noise variance.

        ``variances`` are those :meth:`fit_linear_path` returned: ``var`` is
        the variance along each kept principal axis and ``noise`` the median
        variance along the axes left out, which is the variance of white
        noise when the signal lives in the first ``zdims`` axes (median:
        robust to the few axes beyond ``zdims`` that still hold signal).
        Needs more bands than ``zdims``.
        """
        zdims = self.path_encoder.out_features
        tail = variances[zdims:]
        # Exactly dependent bands (e.g. interpolated ones) give zero variances, not noise.
        tail = tail[tail > variances[0] * 1e-10]
        noise = float(tail.median()) if len(tail) else 0.0
        kept = variances[:zdims].clamp(min=noise * 1e-12 + 1e-30)
        gains = ((kept - noise) / kept).clamp(0.0, 1.0)
        self.path_gains.copy_(gains.to(self.path_gains.dtype))
        return noise

    def activations_per_spectrum(self):
        """About how many values a forward pass keeps per spectrum for the backward pass.

        Computed from the layer sizes, without running the network: a
        forward pass on the ``meta`` device would import ``torch._dynamo``
        (1.5 s). Counts each layer's output once, BatchNorm and Tanh
        included, plus the input, the output and the linear path's.
        """
        return self._layer_activations() + 4 * self.n_bands_in

    def latent_layer(self):
        """The linear layer whose outputs the latent activation receives: row ``j`` makes latent unit ``j``."""
        for name in ("encoder_fc", "to_latent"):
            if hasattr(self, name):
                return getattr(self, name)
        return self.encoder[-1]

    @torch.no_grad()
    def latent_pre_activations(self, x):
        """The network's latent values before ``latent_activation``, ``(n, zdims)``, in eval mode.

        Eval mode, so that BatchNorm uses (and does not update) its running
        statistics; the module's mode is restored afterwards.
        """
        captured = []
        handle = self.latent_activation.register_forward_hook(lambda m, args, out: captured.append(args[0]))
        training = self.training
        try:
            self.eval()
            self._encode(x)
        finally:
            handle.remove()
            self.train(training)
        return captured[0]

    def encode(self, x):
        """Map spectra ``(n, n_bands)`` to latent codes ``(n, zdims)``."""
        z = self._encode(x)
        if self.linear_path:
            z = self.path_encoder(x - self.path_mean) + self.path_gates[0] * z
        return z

    def decode(self, z):
        """Map latent codes ``(n, zdims)`` back to spectra ``(n, n_bands)``."""
        x = self._decode(z)
        if self.linear_path:
            x = self.path_decoder(z * self.path_gains) + self.path_mean + self.path_gates[1] * x
        return x

    def forward(self, x):
        z = self.encode(x)
        return self.decode(z), z


class ConvAED(_Autoencoder):
    """Symmetric 1-D convolutional autoencoder-decoder (AED) for spectra.

    Encoder: ``Conv1d -> BatchNorm1d -> Tanh`` stages (stride 2 by default),
    then a fully connected bottleneck to ``zdims``. Decoder: a fully connected
    layer back to the last feature map, then mirrored
    ``ConvTranspose1d -> BatchNorm1d -> Tanh`` stages whose ``output_padding``
    comes from the lengths recorded by :func:`conv_stage_plan`; the last stage
    has a single output channel and no activation, so the output has exactly
    ``n_bands`` values on the scale of the input.

    Parameters
    ----------
    n_bands : int
        Length of the input spectra.
    zdims : int, default=32
        Size of the latent code.
    channels : sequence of int, default=(4, 8, 12, 16)
        Output channels of each encoder stage.
    kernel_size, stride, padding : int, default=(4, 2, 1)
        Geometry of the downsampling stages.
    latent_activation : {None, "relu", "softplus"}, default=None
        Applied to the latent code; "relu" and "softplus" make it non-negative.
    linear_path : bool, default=False
        Add a linear encoder and decoder beside the network (see
        :class:`_Autoencoder`); ignored with a ``latent_activation``, whose
        codes must stay non-negative.
    """

    def __init__(
        self,
        n_bands,
        zdims=32,
        channels=(4, 8, 12, 16),
        kernel_size=4,
        stride=2,
        padding=1,
        latent_activation=None,
        linear_path=False,
    ):
        super().__init__()
        self.n_bands = int(n_bands)
        self.zdims = int(zdims)
        channels = tuple(int(c) for c in channels)
        self.stages = conv_stage_plan(self.n_bands, len(channels), kernel_size, stride, padding)

        enc = []
        c_in = 1
        for c_out, (k, s, p, _, _, _) in zip(channels, self.stages):
            enc += [nn.Conv1d(c_in, c_out, k, s, p), nn.BatchNorm1d(c_out), _Tanh()]
            c_in = c_out
        self.encoder_conv = nn.Sequential(*enc)
        self._last_shape = (channels[-1], self.stages[-1][4])
        flat = channels[-1] * self.stages[-1][4]
        self.encoder_fc = nn.Linear(flat, self.zdims)
        self.latent_activation = _activation(latent_activation)
        self._init_linear_path(n_bands, zdims, linear_path and latent_activation is None)
        self.decoder_fc = nn.Linear(self.zdims, flat)

        dec = []
        outs = list(channels[-2::-1]) + [1]
        c_in = channels[-1]
        for i, (c_out, (k, s, p, _, _, op)) in enumerate(zip(outs, self.stages[::-1])):
            dec.append(nn.ConvTranspose1d(c_in, c_out, k, s, p, output_padding=op))
            if i < len(outs) - 1:
                dec += [nn.BatchNorm1d(c_out), _Tanh()]
            c_in = c_out
        self.decoder_conv = nn.Sequential(*dec)

    def _layer_activations(self):
        # each stage: convolution, BatchNorm and Tanh outputs, in the encoder and mirrored in the decoder
        sizes = [m.out_channels for m in self.encoder_conv if isinstance(m, nn.Conv1d)]
        per_stage = sum(c * stage[4] for c, stage in zip(sizes, self.stages))
        return 6 * per_stage + 2 * sizes[-1] * self.stages[-1][4] + 2 * self.zdims

    def _encode(self, x):
        h = self.encoder_conv(x.unsqueeze(1))
        return self.latent_activation(self.encoder_fc(h.flatten(1)))

    def _decode(self, z):
        """Map latent codes ``(n, zdims)`` to spectra ``(n, n_bands)``."""
        h = self.decoder_fc(z).view(-1, *self._last_shape)
        return self.decoder_conv(h).squeeze(1)


def _activation(name):
    return _LATENT_ACTIVATIONS[name]()


class DenseAE(_Autoencoder):
    """Fully connected autoencoder: ``Linear -> BatchNorm1d -> Tanh`` layers.

    Parameters
    ----------
    n_bands : int
        Length of the input spectra.
    zdims : int, default=32
        Size of the latent code.
    hidden_sizes : sequence of int, default=(128, 64)
        Widths of the encoder's hidden layers; the decoder mirrors them.
    latent_activation : {None, "relu", "softplus"}, default=None
    linear_path : bool, default=False
        As in :class:`ConvAED`.
    """

    def __init__(self, n_bands, zdims=32, hidden_sizes=(128, 64), latent_activation=None, linear_path=False):
        super().__init__()
        sizes = [int(n_bands), *(int(h) for h in hidden_sizes)]
        enc = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            enc += [nn.Linear(a, b), nn.BatchNorm1d(b), _Tanh()]
        self.encoder = nn.Sequential(*enc, nn.Linear(sizes[-1], int(zdims)))
        self.latent_activation = _activation(latent_activation)
        self._init_linear_path(n_bands, zdims, linear_path and latent_activation is None)
        rev = sizes[::-1]
        dec = [nn.Linear(int(zdims), rev[0])]
        for a, b in zip(rev[:-1], rev[1:]):
            dec += [nn.BatchNorm1d(a), _Tanh(), nn.Linear(a, b)]
        self.decoder = nn.Sequential(*dec)

    def _layer_activations(self):
        hidden = [m.out_features for m in self.encoder if isinstance(m, nn.Linear)][:-1]
        return 6 * sum(hidden) + 2 * hidden[-1] + 4 * self.zdims

    def _encode(self, x):
        return self.latent_activation(self.encoder(x))

    def _decode(self, z):
        return self.decoder(z)


def default_token_size(n_bands, max_tokens=32):
    """Bands per token so that a spectrum becomes at most ``max_tokens`` tokens."""
    return max(1, -(-int(n_bands) // max_tokens))


class _Tokenizer(nn.Module):
    """Cut a spectrum into tokens of ``token_size`` neighbouring bands, and back.

    The spectrum is padded at its end by repeating the last band, so any band
    count works; :meth:`untokenize` crops the padding off again.
    """

    def __init__(self, n_bands, token_size):
        super().__init__()
        self.n_bands = int(n_bands)
        self.token_size = int(token_size)
        self.n_tokens = -(-self.n_bands // self.token_size)
        self.pad = self.n_tokens * self.token_size - self.n_bands

    def tokenize(self, x):
        if self.pad:
            x = torch.cat([x, x[:, -1:].expand(-1, self.pad)], dim=1)
        return x.view(x.shape[0], self.n_tokens, self.token_size)

    def untokenize(self, t):
        return t.reshape(t.shape[0], -1)[:, : self.n_bands]


class LSTMAE(_Autoencoder):
    """Recurrent autoencoder reading the spectrum as a sequence of band groups.

    Encoder: tokens of ``token_size`` bands, a linear embedding, a
    bidirectional LSTM; its last forward and first backward states give the
    latent code. Decoder: the latent code repeated over the sequence, an
    LSTM, and a per-step linear layer back to ``token_size`` bands.

    Parameters
    ----------
    n_bands : int
    zdims : int, default=32
    hidden_size : int, default=32
        LSTM hidden size (per direction).
    n_layers : int, default=1
        Stacked LSTM layers, in the encoder and in the decoder.
    token_size : int or None, default=None
        Bands per sequence step; None chooses at most 32 steps.
    latent_activation : {None, "relu", "softplus"}, default=None
    linear_path : bool, default=False
        As in :class:`ConvAED`.
    """

    def __init__(
        self, n_bands, zdims=32, hidden_size=32, n_layers=1, token_size=None, latent_activation=None, linear_path=False
    ):
        super().__init__()
        token_size = token_size or default_token_size(n_bands)
        self.tokens = _Tokenizer(n_bands, token_size)
        self.embed = nn.Linear(token_size, hidden_size)
        self.encoder_lstm = nn.LSTM(hidden_size, hidden_size, n_layers, batch_first=True, bidirectional=True)
        self.to_latent = nn.Linear(2 * hidden_size, int(zdims))
        self.latent_activation = _activation(latent_activation)
        self._init_linear_path(n_bands, zdims, linear_path and latent_activation is None)
        self.decoder_lstm = nn.LSTM(int(zdims), hidden_size, n_layers, batch_first=True)
        self.to_bands = nn.Linear(hidden_size, token_size)

    def _layer_activations(self):
        # per step and layer: four gates, the cell and the hidden state, in both directions of
        # the encoder and in the decoder
        steps, hidden = self.tokens.n_tokens, self.encoder_lstm.hidden_size
        return steps * hidden * (2 + 18 * self.encoder_lstm.num_layers) + 2 * self.zdims

    def _encode(self, x):
        h, _ = self.encoder_lstm(self.embed(self.tokens.tokenize(x)))
        half = h.shape[-1] // 2
        summary = torch.cat([h[:, -1, :half], h[:, 0, half:]], dim=1)
        return self.latent_activation(self.to_latent(summary))

    def _decode(self, z):
        seq = z.unsqueeze(1).expand(-1, self.tokens.n_tokens, -1).contiguous()
        h, _ = self.decoder_lstm(seq)
        return self.tokens.untokenize(self.to_bands(h))


def _sinusoidal_positions(n_positions, dim):
    pos = torch.arange(n_positions, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-torch.log(torch.tensor(10000.0)) / dim))
    pe = torch.zeros(n_positions, dim)
    pe[:, 0::2] = torch.sin(pos * freq)
    pe[:, 1::2] = torch.cos(pos * freq)[:, : dim // 2]
    return pe


class TransformerAE(_Autoencoder):
    """Self-attention autoencoder over band groups.

    Encoder: tokens of ``token_size`` bands, a linear projection to
    ``d_model``, sinusoidal positional encoding, ``n_layers`` self-attention
    blocks, mean pooling and a linear map to the latent code. Decoder: a
    linear map from the latent code to a sequence of ``n_tokens`` vectors,
    plus positional encoding, ``n_layers`` self-attention blocks and a
    projection back to ``token_size`` bands per token.

    Parameters
    ----------
    n_bands : int
    zdims : int, default=32
    d_model : int, default=32
        Width of the attention blocks.
    n_layers : int, default=1
        Attention blocks in the encoder and in the decoder.
    n_heads : int, default=4
        Attention heads; must divide ``d_model``.
    token_size : int or None, default=None
        Bands per token; None chooses at most 32 tokens.
    latent_activation : {None, "relu", "softplus"}, default=None
    linear_path : bool, default=False
        As in :class:`ConvAED`.
    """

    def __init__(
        self,
        n_bands,
        zdims=32,
        d_model=32,
        n_layers=1,
        n_heads=4,
        token_size=None,
        latent_activation=None,
        linear_path=False,
    ):
        super().__init__()
        token_size = token_size or default_token_size(n_bands)
        self.tokens = _Tokenizer(n_bands, token_size)
        n_tok = self.tokens.n_tokens
        self.d_model = int(d_model)
        self.register_buffer("positions", _sinusoidal_positions(n_tok, self.d_model), persistent=False)

        def blocks():
            layer = nn.TransformerEncoderLayer(
                self.d_model, n_heads, dim_feedforward=2 * self.d_model, dropout=0.0, batch_first=True
            )
            return nn.TransformerEncoder(layer, n_layers, enable_nested_tensor=False)

        self.embed = nn.Linear(token_size, self.d_model)
        self.encoder_blocks = blocks()
        self.to_latent = nn.Linear(self.d_model, int(zdims))
        self.latent_activation = _activation(latent_activation)
        self._init_linear_path(n_bands, zdims, linear_path and latent_activation is None)
        self.from_latent = nn.Linear(int(zdims), n_tok * self.d_model)
        self.decoder_blocks = blocks()
        self.to_bands = nn.Linear(self.d_model, token_size)

    def _layer_activations(self):
        # per block and token: queries, keys, values, attention output, two residual sums and norms,
        # the feed-forward layer (2 * d_model) and its activation; per head, a row of attention
        # scores and its softmax
        tokens, d = self.tokens.n_tokens, self.d_model
        heads = self.encoder_blocks.layers[0].self_attn.num_heads
        per_block = tokens * (14 * d + 2 * heads * tokens)
        return 2 * len(self.encoder_blocks.layers) * per_block + 4 * tokens * d + 2 * self.zdims

    def _encode(self, x):
        h = self.encoder_blocks(self.embed(self.tokens.tokenize(x)) + self.positions)
        return self.latent_activation(self.to_latent(h.mean(dim=1)))

    def _decode(self, z):
        h = self.from_latent(z).view(z.shape[0], self.tokens.n_tokens, self.d_model) + self.positions
        return self.tokens.untokenize(self.to_bands(self.decoder_blocks(h)))


class _InplaceTanh(nn.Module):
    """:class:`_Tanh` in place: for inference copies, where no graph keeps the input.

    With ``doubled=True`` the layer before has had its weights and bias
    doubled (exact in floating point), so the input already is ``2x``.
    """

    def __init__(self, doubled=False):
        super().__init__()
        self.doubled = doubled

    def forward(self, x):
        if not self.doubled:
            x = x.mul_(2)
        return x.sigmoid_().mul_(2).sub_(1)


class _PhaseConvTranspose1d(nn.Module):
    """A ``ConvTranspose1d`` computed as one stride-1 ``Conv1d``, for inference.

    Output position ``o = s * m + r`` of a transposed convolution with stride
    ``s`` receives the inputs ``m + d`` through the kernel taps ``kk`` with
    ``s * d = r + p - kk``: for each phase ``r`` that is an ordinary
    convolution. The ``s`` phases become the ``s * out_channels`` outputs of one
    ``Conv1d``, interleaved afterwards; on the CPU this is faster than torch's
    transposed convolution for the default network's decoder.
    """

    def __init__(self, conv_t):
        super().__init__()
        (k,), (s,), (p,), (op,) = conv_t.kernel_size, conv_t.stride, conv_t.padding, conv_t.output_padding
        weight = conv_t.weight.detach()  # (in, out, k)
        c_in, c_out, _ = weight.shape
        taps = {(r, (r + p - kk) // s): kk for r in range(s) for kk in range(k) if (kk - r - p) % s == 0}
        offsets = [d for _, d in taps]
        self.d_min, self.d_max = min(offsets), max(offsets)
        w = weight.new_zeros(s, c_out, c_in, self.d_max - self.d_min + 1)
        for (r, d), kk in taps.items():
            w[r, :, :, d - self.d_min] = weight[:, :, kk].T
        self.weight = nn.Parameter(w.reshape(s * c_out, c_in, -1), requires_grad=False)
        bias = None if conv_t.bias is None else conv_t.bias.detach().repeat(s)
        self.bias = None if bias is None else nn.Parameter(bias, requires_grad=False)
        self.geometry = (k, s, p, op, c_out)

    def forward(self, x):
        k, s, p, op, c_out = self.geometry
        n, _, length = x.shape
        length_out = (length - 1) * s - 2 * p + k + op
        n_phase = -(-length_out // s)  # outputs per phase
        pad_left, pad_right = -self.d_min, max(0, n_phase + self.d_max - length)
        if pad_left == pad_right:  # the default geometry: the convolution pads, no copy
            y = nn.functional.conv1d(x, self.weight, self.bias, padding=pad_left)
        else:
            y = nn.functional.conv1d(nn.functional.pad(x, (pad_left, pad_right)), self.weight, self.bias)
        y = y.view(n, s, c_out, -1)[..., :n_phase]
        return y.permute(0, 2, 3, 1).reshape(n, c_out, -1)[:, :, :length_out]


def _fold_into(layer, bn):
    """Fold an eval-mode ``BatchNorm1d`` into the ``Conv1d``, ``ConvTranspose1d`` or ``Linear`` before it."""
    inv_std = torch.rsqrt(bn.running_var + bn.eps)
    scale = bn.weight * inv_std if bn.affine else inv_std
    shift = (bn.bias if bn.affine else 0) - bn.running_mean * scale
    # The BatchNorm channel is the layer's output channel: dim 0 of Conv1d and
    # Linear weights, dim 1 of ConvTranspose1d weights ``(in, out, k)``.
    if isinstance(layer, nn.ConvTranspose1d):
        weight = layer.weight * scale[None, :, None]
    else:
        weight = layer.weight * scale.reshape(-1, *([1] * (layer.weight.dim() - 1)))
    bias = shift if layer.bias is None else layer.bias * scale + shift
    layer.weight = nn.Parameter(weight, requires_grad=False)
    layer.bias = nn.Parameter(bias, requires_grad=False)


def _plain_transposed(layer):
    return (
        isinstance(layer, nn.ConvTranspose1d)
        and layer.groups == 1
        and layer.dilation == (1,)
        and layer.padding_mode == "zeros"
    )


@torch.no_grad()
def inference_copy(module):
    """A faster copy of ``module`` for inference, with the same outputs.

    Inside every ``nn.Sequential`` of the copy:

    - each eval-mode ``BatchNorm1d`` is folded into the weights and bias of
      the ``Conv1d``, ``ConvTranspose1d`` or ``Linear`` it follows (it is an
      affine map per channel): one pass over the activations less per layer;
    - each ``ConvTranspose1d`` runs as one stride-1 ``Conv1d`` over its output
      phases (:class:`_PhaseConvTranspose1d`);
    - each ``Tanh`` works in place, as ``2 sigmoid(2x) - 1`` with the ``2x``
      folded into the layer before when there is one.

    Outputs equal the eval-mode outputs of ``module`` up to float32 rounding
    (tested within 1e-5). ``module`` is not modified; the copy is in eval
    mode, has no gradients and must not be trained (its state_dict differs).

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    copy : torch.nn.Module
    """
    folded = copy.deepcopy(module).eval()
    affine = (nn.Conv1d, nn.ConvTranspose1d, nn.Linear)
    for seq in [m for m in folded.modules() if isinstance(m, nn.Sequential)]:
        last = None  # the affine layer whose output reaches this position unchanged
        for name, layer in list(seq._modules.items()):
            if isinstance(layer, nn.BatchNorm1d) and layer.track_running_stats and last is not None:
                _fold_into(last, layer)
                seq._modules[name] = nn.Identity()
            elif isinstance(layer, (nn.Tanh, _Tanh)):
                if last is not None:
                    last.weight.mul_(2)
                    if last.bias is not None:
                        last.bias.mul_(2)
                seq._modules[name] = _InplaceTanh(doubled=last is not None)
                last = None
            elif isinstance(layer, affine):
                last = layer
            elif not isinstance(layer, nn.Identity):
                last = None
        for name, layer in seq._modules.items():
            if _plain_transposed(layer):
                seq._modules[name] = _PhaseConvTranspose1d(layer)
    for p in folded.parameters():
        p.requires_grad_(False)
    return folded
