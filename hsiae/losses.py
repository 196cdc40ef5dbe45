"""Reconstruction losses for spectra: MSE, spectral angle and spectral gradient.

All functions take torch tensors of shape ``(n_spectra, n_bands)`` and return a
scalar tensor (the mean over spectra), so they can be summed into the composite
criterion :class:`SpectralLoss` that :class:`hsiae.AEDEncoder` trains with.
"""

import torch
from torch import nn

__all__ = ["spectral_angle", "gradient_loss", "latent_sparsity", "SpectralLoss"]

# Below this squared norm a spectrum counts as all-zero.
_TINY = 1e-12
# Keep acos away from +-1, where its derivative is infinite.
_COS_CLAMP = 1.0 - 1e-6


def spectral_angle(input, target, reduction="mean"):
    """Spectral angle (radians) between matching rows of two batches of spectra.

    The angle is ``arccos(<x, y> / (|x| |y|))``, in ``[0, pi]``. It is scale
    invariant: it compares the shape of two spectra, not their brightness.

    Parameters
    ----------
    input, target : Tensor of shape (n_spectra, n_bands)
        Spectra to compare, row by row.
    reduction : {"mean", "none"}, default="mean"
        Return the mean angle, or one angle per row.

    Returns
    -------
    angle : Tensor
        A scalar, or a tensor of shape (n_spectra,) with ``reduction="none"``.

    Notes
    -----
    All-zero spectra have no direction. The angle is defined as 0 when both
    spectra are zero and ``pi / 2`` when only one is, so it stays finite and so
    does its gradient.
    """
    dot = (input * target).sum(dim=-1)
    n_in = (input * input).sum(dim=-1)
    n_tg = (target * target).sum(dim=-1)
    zero_in, zero_tg = n_in <= _TINY, n_tg <= _TINY
    both_zero, any_zero = zero_in & zero_tg, zero_in | zero_tg
    # A zero spectrum has no direction: its cosine is a constant 0 (angle pi / 2),
    # with no gradient, instead of a division by ~0.
    ones = torch.ones_like(n_in)
    safe_in, safe_tg = torch.where(any_zero, ones, n_in), torch.where(any_zero, ones, n_tg)
    # sqrt(|x|^2 |y|^2) keeps the cosine of identical spectra exactly 1, but the product
    # overflows float32 for spectra of magnitude ~1e5 over a few hundred bands; there,
    # sqrt(|x|^2) * sqrt(|y|^2) keeps the angle finite.
    product = safe_in * safe_tg
    overflow = ~torch.isfinite(product)
    denom = torch.where(
        overflow,
        torch.sqrt(safe_in) * torch.sqrt(safe_tg),
        torch.sqrt(torch.where(overflow, ones, product)),
    )
    cos = torch.where(any_zero, torch.zeros_like(dot), dot / denom)
    # The value uses the exact cosine (so identical spectra give 0); the
    # gradient flows through a clamped copy, since d acos / d cos is infinite at +-1.
    safe = torch.acos(torch.clamp(cos, -_COS_CLAMP, _COS_CLAMP))
    exact = torch.acos(torch.clamp(cos, -1.0, 1.0))
    angle = safe + (exact - safe).detach()
    # One zero spectrum: cos is 0 and the angle pi / 2; two: defined as 0.
    angle = torch.where(both_zero, torch.zeros_like(angle), angle)
    if reduction == "none":
        return angle
    return angle.mean()


def gradient_loss(input, target):
    """Mean squared difference of the first differences along the bands.

    Compares ``diff(input)`` with ``diff(target)`` keeping their sign, so a
    reconstruction whose slope has the right size but the wrong direction is
    penalised. It is 0 for spectra with fewer than two bands.

    Parameters
    ----------
    input, target : Tensor of shape (n_spectra, n_bands)

    Returns
    -------
    loss : Tensor, scalar
    """
    if input.shape[-1] < 2:
        return input.new_zeros(())
    d_in = input[..., 1:] - input[..., :-1]
    d_tg = target[..., 1:] - target[..., :-1]
    return torch.mean((d_in - d_tg) ** 2)


def latent_sparsity(codes):
    """Scale-free sparsity penalty of a batch of codes: ``mean(|z|) / sqrt(mean(z**2))``.

    The L1 norm of all entries relative to their L2 norm (times a constant):
    it is lowest (``1 / sqrt(n_entries)``) when one entry carries all the
    weight and highest (1) when all are equal in size, and scaling the codes
    does not change it. A plain L1 penalty ``mean(|z|)`` can be met by
    shrinking every code while the decoder grows its weights to match, which
    gives small codes, not sparse ones.

    Parameters
    ----------
    codes : Tensor of shape (n_spectra, zdims)

    Returns
    -------
    penalty : Tensor, scalar in [0, 1]
        0 for all-zero codes.

    Examples
    --------
    >>> import torch
    >>> from hsiae.losses import latent_sparsity
    >>> float(latent_sparsity(torch.tensor([[1.0, 1.0], [1.0, 1.0]])))
    1.0
    >>> float(latent_sparsity(torch.tensor([[4.0, 0.0], [0.0, 0.0]])))
    0.5
    """
    rms = torch.sqrt(torch.mean(codes * codes) + _TINY)
    return torch.mean(torch.abs(codes)) / rms


class SpectralLoss(nn.Module):
    """Composite reconstruction loss: ``a * MSE + b * SAM + c * G + d * MAE``.

    Parameters
    ----------
    mse_weight : float, default=1.0
        Weight of the mean squared error.
    sam_weight : float, default=0.1
        Weight of the mean spectral angle in radians (:func:`spectral_angle`).
    gradient_weight : float, default=1.0
        Weight of :func:`gradient_loss`.
    mae_weight : float, default=0.0
        Weight of the mean absolute error, which is less swayed than the
        squared error by a few spectra or bands far off (noise spikes, bad
        bands).
    sam_offset : float, default=0.0
        Added to both spectra before their angle is taken. Scaled spectra
        are often centred (``SpectralResampler(scaling="range")`` subtracts
        the mean), and the angle between centred spectra is not their
        spectral angle; :class:`hsiae.AEDEncoder` sets this offset so that
        the angle is taken between non-negative spectra.

    Examples
    --------
    >>> import torch
    >>> from hsiae.losses import SpectralLoss
    >>> x = torch.ones(4, 10)
    >>> float(SpectralLoss()(x, x))
    0.0
    """

    def __init__(self, mse_weight=1.0, sam_weight=0.1, gradient_weight=1.0, sam_offset=0.0, mae_weight=0.0):
        super().__init__()
        self.mse_weight = mse_weight
        self.sam_weight = sam_weight
        self.gradient_weight = gradient_weight
        self.sam_offset = sam_offset
        self.mae_weight = mae_weight

    def forward(self, input, target):
        """The weighted sum of the terms for reconstructions ``input`` of spectra ``target`` (a 0-d tensor)."""
        loss = input.new_zeros(())
        if self.mse_weight:
            loss = loss + self.mse_weight * torch.mean((input - target) ** 2)
        if self.sam_weight:
            loss = loss + self.sam_weight * spectral_angle(input + self.sam_offset, target + self.sam_offset)
        if self.gradient_weight:
            loss = loss + self.gradient_weight * gradient_loss(input, target)
        if self.mae_weight:
            loss = loss + self.mae_weight * torch.mean(torch.abs(input - target))
        return loss

    def extra_repr(self):
        """The weights, for the module's repr."""
        return (
            f"mse_weight={self.mse_weight}, sam_weight={self.sam_weight}, "
            f"gradient_weight={self.gradient_weight}, sam_offset={self.sam_offset}, mae_weight={self.mae_weight}"
        )
