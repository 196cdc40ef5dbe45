"""Torch modules: spectral autoencoders over per-pixel spectra.

Every module maps a batch of spectra ``(n, n_bands)`` to ``(decoded, encoded)``
with ``decoded`` of shape ``(n, n_bands)`` and ``encoded`` of shape
``(n, zdims)``, and has ``encode`` and ``decode`` methods. This is the contract
:class:`hsiae.AEDEncoder` relies on.
"""

import torch
from torch import nn

__all__ = ["ConvAED", "conv_stage_plan"]


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


_LATENT_ACTIVATIONS = {None: nn.Identity, "relu": nn.ReLU, "softplus": nn.Softplus}


class ConvAED(nn.Module):
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
    ):
        super().__init__()
        self.n_bands = int(n_bands)
        self.zdims = int(zdims)
        channels = tuple(int(c) for c in channels)
        self.stages = conv_stage_plan(self.n_bands, len(channels), kernel_size, stride, padding)

        enc = []
        c_in = 1
        for c_out, (k, s, p, _, _, _) in zip(channels, self.stages):
            enc += [nn.Conv1d(c_in, c_out, k, s, p), nn.BatchNorm1d(c_out), nn.Tanh()]
            c_in = c_out
        self.encoder_conv = nn.Sequential(*enc)
        self._last_shape = (channels[-1], self.stages[-1][4])
        flat = channels[-1] * self.stages[-1][4]
        self.encoder_fc = nn.Linear(flat, self.zdims)
        self.latent_activation = _LATENT_ACTIVATIONS[latent_activation]()
        self.decoder_fc = nn.Linear(self.zdims, flat)

        dec = []
        outs = list(channels[-2::-1]) + [1]
        c_in = channels[-1]
        for i, (c_out, (k, s, p, _, _, op)) in enumerate(zip(outs, self.stages[::-1])):
            dec.append(nn.ConvTranspose1d(c_in, c_out, k, s, p, output_padding=op))
            if i < len(outs) - 1:
                dec += [nn.BatchNorm1d(c_out), nn.Tanh()]
            c_in = c_out
        self.decoder_conv = nn.Sequential(*dec)

    def encode(self, x):
        """Map spectra ``(n, n_bands)`` to latent codes ``(n, zdims)``."""
        h = self.encoder_conv(x.unsqueeze(1))
        return self.latent_activation(self.encoder_fc(h.flatten(1)))

    def decode(self, z):
        """Map latent codes ``(n, zdims)`` to spectra ``(n, n_bands)``."""
        h = self.decoder_fc(z).view(-1, *self._last_shape)
        return self.decoder_conv(h).squeeze(1)

    def forward(self, x):
        z = self.encode(x)
        return self.decode(z), z
