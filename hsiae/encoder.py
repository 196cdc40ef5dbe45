"""AEDEncoder: a spectral autoencoder as a scikit-learn transformer, trained with skorch."""

import math
import threading
import warnings
import weakref
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from skorch.callbacks import Callback, EarlyStopping

from hsiae._checks import refuse_cube
from hsiae._training import (
    SHARD_SIZE,
    Adam,
    CosineSchedule,
    EpochProgress,
    HoldOut,
    NetworkStateMixin,
    ShardedNet,
    SliceIterator,
    check_device,
    n_holdout,
    one_torch_thread,
    still_improving,
    worker_count,
)
from hsiae.exceptions import Param, ParameterError, ParameterMessage
from hsiae.losses import SpectralLoss, latent_sparsity
from hsiae.networks import LSTMAE, ConvAED, DenseAE, TransformerAE, inference_copy

__all__ = ["AEDEncoder"]

_FLOAT32_MAX = float(np.finfo(np.float32).max)
# Training memory (weights, gradients, Adam's moments, one batch of activations) above which
# the parameters are refused as a mistake rather than allocated.
_MAX_TRAINING_BYTES = 4 << 30
_ARCHITECTURES = {"conv": ConvAED, "dense": DenseAE, "lstm": LSTMAE, "transformer": TransformerAE}
# Trained module -> (versions of its tensors, inference copy). Kept beside the module, not on the
# estimator, so pickles and .hsiae files are unchanged and transform leaves the estimator as it was.
_INFERENCE_COPIES = weakref.WeakKeyDictionary()
# A training loss this many times above both its first value and the loss of the mean spectrum
# is divergence, not learning (lr=1e6 reaches ~1e23 in one epoch, and rarely NaN).
_DIVERGENCE_FACTOR = 1e6
# Principal axes beyond zdims from which shrinkage="wiener" estimates the noise variance.
_MIN_NOISE_AXES = 8


def _inference_module(module):
    """The cached :func:`~hsiae.networks.inference_copy` of ``module``, rebuilt when its weights change.

    Every in-place change of a tensor (an optimizer step, ``load_state_dict``)
    bumps its version counter, so a copy made from other weights is never used.
    """
    key = tuple(t._version for t in (*module.parameters(), *module.buffers()))
    cached = _INFERENCE_COPIES.get(module)
    if cached is None or cached[0] != key:
        cached = (key, inference_copy(module))
        _INFERENCE_COPIES[module] = cached
    return cached[1]


class _TrainingDiverged(ParameterError):
    """The training loss became NaN, infinite or absurdly large."""


class _StillFalling(ParameterMessage, ConvergenceWarning):
    """Training stopped at max_epochs with the validation loss still falling."""


class _DeadLatentUnits(ParameterMessage, ConvergenceWarning):
    """ReLU latent units that stayed 0 for every training spectrum despite revival."""


# Training spectra (evenly spaced) on which latent="relu" units are checked for being dead.
_DEAD_UNIT_SAMPLE = 2048


class _ReviveDeadUnits(Callback):
    """After each epoch, revive ReLU latent units that are 0 for every spectrum of a training sample.

    A ReLU unit whose input is negative for every spectrum gets no gradient
    and stays 0 for good: with all units dead the decoder can only learn the
    mean spectrum. The unit's bias is moved by minus the median of its input
    over the sample, which makes it positive for about half of the spectra
    again, so that gradients reach it. Counts the revivals in ``revived``.
    """

    def __init__(self, sample):
        self.sample = sample
        self.revived = 0

    @torch.no_grad()
    def on_epoch_end(self, net, **kwargs):
        module = net.module_
        pre = module.latent_pre_activations(self.sample.to(net.device))
        dead = (pre <= 0).all(dim=0)
        if dead.any():
            module.latent_layer().bias[dead] -= pre[:, dead].median(dim=0).values
            self.revived += int(dead.sum())


class _AEDNet(ShardedNet):
    """skorch net whose module returns ``(decoded, encoded)`` and whose target is its input.

    Training stops at the first training loss that is NaN, infinite or
    ``_DIVERGENCE_FACTOR`` times above both the first training loss and
    ``baseline_loss`` (the loss of the mean spectrum), before the step that
    would write it into the weights.
    """

    def __init__(self, *args, latent_l1=0.0, baseline_loss=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.latent_l1 = latent_l1
        self.baseline_loss = baseline_loss

    def check_training_loss(self, value):
        first = self.__dict__.setdefault("_first_train_loss", value)
        # the floor keeps constant data (both reference losses 0) from tripping on rounding
        bound = _DIVERGENCE_FACTOR * max(first, self.baseline_loss, 1e-6)
        if math.isfinite(value) and (not math.isfinite(bound) or value <= bound):
            return
        what = f"became {value}" if not math.isfinite(value) else f"grew from {first:.3g} to {value:.3g}"
        raise _TrainingDiverged(
            "AEDEncoder's training loss {what} in epoch {epoch} with {lr}: the optimizer's steps "
            "diverged. Training was stopped and the encoder left unfitted; lower {lr_name} (the "
            "default is 2e-3) or scale the data (SpectralResampler(scaling='range') does).",
            what=what,
            epoch=len(self.history),
            lr=Param("lr", float(self.lr)),
            lr_name=Param("lr"),
        )

    def get_loss(self, y_pred, y_true, X=None, training=False):
        decoded, encoded = y_pred
        loss = self.criterion_(decoded, torch.as_tensor(X, device=decoded.device))
        if self.latent_l1:
            loss = loss + self.latent_l1 * latent_sparsity(encoded)
        return loss


class AEDEncoder(NetworkStateMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Spectral autoencoder-decoder (AED): latent features and reconstructions.

    A symmetric 1-D convolutional network over per-pixel spectra
    (:class:`hsiae.networks.ConvAED`), trained with skorch on the composite
    loss ``mse_weight * MSE + sam_weight * SAM + gradient_weight * G``
    (:class:`hsiae.losses.SpectralLoss`). :meth:`transform` returns the latent
    codes, :meth:`inverse_transform` decodes codes back into spectra.

    Parameters
    ----------
    zdims : int, default=32
        Size of the latent code (the bottleneck).
    architecture : {"conv", "dense", "lstm", "transformer"}, default="conv"
        The network; each returns exactly ``n_features_in_`` values for any
        band count.

        - ``"conv"`` (:class:`~hsiae.networks.ConvAED`): stride-2 ``Conv1d``
          stages with BatchNorm and Tanh, a fully connected bottleneck, and a
          mirrored ``ConvTranspose1d`` decoder.
        - ``"dense"`` (:class:`~hsiae.networks.DenseAE`): fully connected
          layers of ``hidden_sizes``, mirrored in the decoder.
        - ``"lstm"`` (:class:`~hsiae.networks.LSTMAE`): a bidirectional LSTM
          over tokens of ``token_size`` neighbouring bands; the decoder
          repeats the code over the sequence into an LSTM.
        - ``"transformer"`` (:class:`~hsiae.networks.TransformerAE`):
          self-attention blocks over band tokens with positional encoding.
    channels : tuple of int, default=(4, 8, 12, 16)
        "conv": output channels of the encoder's convolution stages.
    kernel_size, stride, padding : int, default=(4, 2, 1)
        "conv": geometry of the downsampling stages. Once a spectrum is down
        to two positions, further stages keep its length.
    hidden_sizes : tuple of int, default=(128, 64)
        "dense": widths of the encoder's hidden layers.
    d_model : int, default=32
        "lstm": hidden size per direction; "transformer": model width.
    n_layers : int, default=1
        "lstm" and "transformer": layers in the encoder and in the decoder.
    n_heads : int, default=4
        "transformer": attention heads; must divide ``d_model``.
    token_size : int or None, default=None
        "lstm" and "transformer": neighbouring bands grouped into one
        sequence step. None picks the smallest size that gives at most 32
        steps (16 bands per step for 512 bands), which keeps sequence models
        affordable on a CPU.
    latent_activation : {None, "relu", "softplus"}, default=None
        Activation of the latent code; "relu" and "softplus" make it
        non-negative, as in abundance-like unmixing models. A ReLU unit
        whose input is negative for every spectrum is "dead": no gradient
        reaches it and it stays 0, and when all are, the decoder can only
        learn the mean spectrum. With "relu", after each epoch the units
        that are 0 for every spectrum of a training sample (2048 evenly
        spaced rows) are revived by moving their bias by minus the median
        of their input, so that about half of the sample activates them;
        units still dead after training are reported by a
        ConvergenceWarning.
    linear_path : bool, default=True
        Run a linear encoder and decoder beside the network, initialised to
        the principal axes of the training spectra: training starts from the
        PCA reconstruction at rank ``zdims`` and the network adds what a
        linear map misses. Without it, the network alone has to learn to
        reproduce the spectra, and in a few dozen epochs it does not get
        down to PCA's error. Not used with a
        ``latent_activation`` or ``latent_l1``: codes that must be
        non-negative or sparse cannot sit on fixed principal axes.
    shrinkage : {None, "wiener"}, default=None
        "wiener" turns :meth:`inverse_transform` (and :meth:`reconstruct`)
        into a denoiser: after training, each code's linear-path part is
        multiplied by Wiener's gain ``(var - noise) / var`` before decoding,
        where ``var`` is the training spectra's variance along that principal
        axis and ``noise`` the median variance along the axes beyond
        ``zdims``, an estimate of white noise per band. Codes from
        :meth:`transform` are not changed. Needs the linear path and at
        least 8 bands more than ``zdims``, and assumes noise that is white
        in the bands the encoder sees: keep the scene's own bands (no
        interpolation) when denoising. The gain is largest where the noise
        is strong against the signal's variance along the kept axes, which
        a same-rank PCA projection keeps in full. Reconstructions then estimate the clean
        spectra, so their loss against the noisy input, and :meth:`score`,
        are worse by design.
    latent_l1 : float, default=0.0
        Weight of a sparsity penalty on the latent codes, added to the loss
        whatever the other weights are: their L1 norm relative to their L2
        norm over a batch, ``mean(|z|) / sqrt(mean(z**2))``
        (:func:`hsiae.losses.latent_sparsity`), which is lowest when most
        entries are 0. A plain ``mean(|z|)`` would only shrink the codes,
        which the decoder undoes by growing its weights. Turns the linear
        path off.
    mse_weight, sam_weight, gradient_weight : float, default=(1.0, 0.1, 1.0)
        Weights of the mean squared error, the mean spectral angle (radians)
        and the squared error of the first differences along the bands.
        The angle and gradient terms keep the shape of the spectra, which is
        what tells materials apart, at the cost of a higher squared error;
        for denoising judged by RMSE alone, set ``sam_weight=0,
        gradient_weight=0``.
    mae_weight : float, default=0.0
        Weight of the mean absolute error (MAE, L1) of the reconstructions,
        added to the loss; less swayed than the squared error by a few
        spectra or bands far off. ``mse_weight=0, mae_weight=1`` trains on
        the MAE alone.
    lr : float, default=2e-3
        Peak learning rate of the Adam optimizer. A learning rate that makes
        training diverge (a training loss that turns NaN or infinite, or grows
        a million-fold above both its first value and the loss of the mean
        spectrum) stops :meth:`fit` at once with a ValueError.
    lr_schedule : {"cosine", "constant"}, default="cosine"
        "cosine" ramps the learning rate up over the first 5 % of the
        training budget (``max_epochs`` epochs of ``epoch_size`` spectra)
        and then lowers it to zero along a half cosine, so that the budget
        ends on a settled model; "constant" keeps ``lr`` throughout.
    batch_size : int, default=512
        Spectra per training step. A batch is computed in shards of 256
        spectra, each with its own BatchNorm statistics; on the CPU the
        shards of a batch run in parallel on up to ``torch.get_num_threads()``
        threads, so a batch of 512 uses two cores. The result does not depend
        on the number of threads.
    max_epochs : int, default=30
        Upper bound on the epochs.
    epoch_size : int or None, default=20_000
        Spectra drawn per epoch: the next ``epoch_size`` training pixels of
        a random permutation, so every pixel is drawn once before any is
        drawn twice. With the validation split also bounded by it, the cost
        of a fit is at most ``max_epochs * epoch_size`` training spectra
        (600,000 by default) whatever the number of pixels: a scene of
        millions of pixels trains in the time of one of 20,000. Images with
        fewer pixels go through all of them in each epoch. None makes every
        epoch a pass over all training pixels.
    validation_fraction : float, default=0.1
        Share held out to monitor the validation loss: of the pixels, or of
        ``epoch_size`` when there are more pixels than that. Training stops
        when the validation loss has not improved by a relative ``tol`` for
        ``patience`` epochs, and the weights of the best epoch are restored.
        ``0`` trains on all pixels for ``max_epochs`` with no early stopping.
    patience : int, default=5
        Epochs without improvement before early stopping.
    tol : float, default=5e-3
        Relative improvement of the validation loss that counts. When
        training ends at ``max_epochs`` with the validation loss still
        falling by more than ``tol`` over the last ``patience`` epochs, a
        ConvergenceWarning says by how much.
    inference_batch_size : int, default=512
        Spectra per batch in :meth:`transform`, :meth:`inverse_transform`,
        :meth:`score` and the validation pass; bounds their memory whatever
        the image size. Batches much larger than the default run slower on
        a CPU: their activations no longer fit the caches.
    device : str, default="cpu"
        Torch device, e.g. "cpu", "cuda" or "cuda:1".
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the batch order and the validation split. The
        same seed and data give identical results on the CPU; the caller's
        global torch random state is left untouched.
    verbose : int, default=0
        0: silent; 1: progress bars over training epochs and over the
        batches of :meth:`transform` and friends (shown on a terminal only);
        2: also skorch's table of losses per epoch.

    Attributes
    ----------
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is the torch module.
    history_ : dict of ndarray
        Per epoch: ``"epoch"``, ``"train_loss"``, ``"dur"`` (seconds) and, with
        a validation split, ``"valid_loss"``.
    best_epoch_ : int
        Epoch (1-based) whose weights were kept.
    n_epochs_ : int
        Epochs run.
    n_features_in_ : int
        Number of bands seen in :meth:`fit`.
    sam_offset_ : float
        Added to spectra before their spectral angle is taken in the loss:
        minus the smallest training value when it is negative, else 0. Scaled
        spectra are centred by default (``SpectralResampler(scaling="range")``
        subtracts the mean), and the angle between centred spectra is not the
        spectral angle; shifting them back to non-negative values makes the
        SAM term compare spectral shapes again.
    noise_variance_ : float
        With ``shrinkage="wiener"``: the estimated noise variance per band
        (in the units of ``X``) behind the gains.
    shrinkage_gains_ : ndarray of shape (zdims,)
        With ``shrinkage="wiener"``: the gain applied to each code's
        linear-path part before decoding (1 keeps it, 0 removes it).

    See Also
    --------
    SpectralResampler : Brings spectra to a common length and scale first.
    SpatialGMMSegmenter : Clusters the latent codes into segments.

    Notes
    -----
    Compute is in float32; outputs come back in the dtype of the input
    (float32 or float64).

    Examples
    --------
    >>> import numpy as np
    >>> from hsiae import AEDEncoder
    >>> X = np.random.default_rng(0).random((500, 64)).astype(np.float32)
    >>> enc = AEDEncoder(zdims=4, max_epochs=2, random_state=0).fit(X)
    >>> enc.transform(X).shape
    (500, 4)
    >>> enc.inverse_transform(enc.transform(X)).shape
    (500, 64)
    """

    _parameter_constraints = {
        "zdims": [Interval(Integral, 1, None, closed="left")],
        "architecture": [StrOptions({"conv", "dense", "lstm", "transformer"})],
        "channels": [tuple, list],
        "kernel_size": [Interval(Integral, 1, None, closed="left")],
        "stride": [Interval(Integral, 1, None, closed="left")],
        "padding": [Interval(Integral, 0, None, closed="left")],
        "hidden_sizes": [tuple, list],
        "d_model": [Interval(Integral, 2, None, closed="left")],
        "n_layers": [Interval(Integral, 1, None, closed="left")],
        "n_heads": [Interval(Integral, 1, None, closed="left")],
        "token_size": [Interval(Integral, 1, None, closed="left"), None],
        "latent_activation": [StrOptions({"relu", "softplus"}), None],
        "linear_path": ["boolean"],
        "shrinkage": [StrOptions({"wiener"}), None],
        "latent_l1": [Interval(Real, 0, None, closed="left")],
        "mse_weight": [Interval(Real, 0, None, closed="left")],
        "sam_weight": [Interval(Real, 0, None, closed="left")],
        "gradient_weight": [Interval(Real, 0, None, closed="left")],
        "mae_weight": [Interval(Real, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "lr_schedule": [StrOptions({"constant", "cosine"})],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "epoch_size": [Interval(Integral, 2, None, closed="left"), None],
        "validation_fraction": [Interval(Real, 0, 1, closed="left")],
        "patience": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "inference_batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        zdims=32,
        *,
        architecture="conv",
        channels=(4, 8, 12, 16),
        kernel_size=4,
        stride=2,
        padding=1,
        hidden_sizes=(128, 64),
        d_model=32,
        n_layers=1,
        n_heads=4,
        token_size=None,
        latent_activation=None,
        linear_path=True,
        shrinkage=None,
        latent_l1=0.0,
        mse_weight=1.0,
        sam_weight=0.1,
        gradient_weight=1.0,
        mae_weight=0.0,
        lr=2e-3,
        lr_schedule="cosine",
        batch_size=512,
        max_epochs=30,
        epoch_size=20_000,
        validation_fraction=0.1,
        patience=5,
        tol=5e-3,
        inference_batch_size=512,
        device="cpu",
        random_state=None,
        verbose=0,
    ):
        self.zdims = zdims
        self.architecture = architecture
        self.channels = channels
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding = padding
        self.hidden_sizes = hidden_sizes
        self.d_model = d_model
        self.n_layers = n_layers
        self.n_heads = n_heads
        self.token_size = token_size
        self.latent_activation = latent_activation
        self.linear_path = linear_path
        self.shrinkage = shrinkage
        self.latent_l1 = latent_l1
        self.mse_weight = mse_weight
        self.sam_weight = sam_weight
        self.gradient_weight = gradient_weight
        self.mae_weight = mae_weight
        self.lr = lr
        self.lr_schedule = lr_schedule
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.epoch_size = epoch_size
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.tol = tol
        self.inference_batch_size = inference_batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- validation helpers -------------------------------------------------

    def _check_shrinkage(self, n_features):
        if self.shrinkage is None:
            return
        if not self.linear_path or self.latent_activation is not None or self.latent_l1:
            raise ValueError(
                f"shrinkage={self.shrinkage!r} shrinks the linear path's codes, which this encoder does not have "
                f"(linear_path={self.linear_path}, latent_activation={self.latent_activation!r}, "
                f"latent_l1={self.latent_l1}); use linear_path=True with no latent_activation and latent_l1=0, "
                "or shrinkage=None."
            )
        if n_features - self.zdims < _MIN_NOISE_AXES:
            bound = n_features - _MIN_NOISE_AXES
            raise ParameterError(
                "{shrinkage} estimates the noise from the principal axes beyond {zdims_name}, and "
                "{n_features} bands with {zdims} leave {spare} of them (at least {needed} needed); "
                + (
                    "use {bound} or less, or {no_shrinkage}."
                    if bound >= 1
                    else "this data has too few bands for it; use {no_shrinkage}."
                ),
                shrinkage=Param("shrinkage", self.shrinkage),
                zdims_name=Param("zdims"),
                n_features=n_features,
                zdims=Param("zdims", self.zdims),
                spare=max(0, n_features - self.zdims),
                needed=_MIN_NOISE_AXES,
                bound=Param("zdims", bound),
                no_shrinkage=Param("shrinkage", None),
            )

    def _check_params(self, n_samples, n_features):
        self._check_geometry(n_features)
        if n_samples < 2:
            raise ValueError(
                f"AEDEncoder needs at least 2 spectra to train (BatchNorm needs a batch), got "
                f"{n_samples} sample; pass more pixels."
            )
        if self.validation_fraction > 0:
            n_valid = n_holdout(n_samples, self.validation_fraction, self.epoch_size)
            if n_samples - n_valid < 2:
                raise ParameterError(
                    "{fraction} of {n} spectra leaves {left} for training; pass more pixels or set {zero}.",
                    fraction=Param("validation_fraction", float(self.validation_fraction)),
                    n=n_samples,
                    left=n_samples - n_valid,
                    zero=Param("validation_fraction", 0),
                )

    def _check_geometry(self, n_features):
        """The checks of the parameters that describe the network and its loss, for ``n_features`` bands."""
        for name, example in (("channels", "(4, 8, 12, 16)"), ("hidden_sizes", "(128, 64)")):
            sizes = tuple(getattr(self, name))
            if not sizes or not all(isinstance(c, Integral) and c >= 1 for c in sizes):
                raise ValueError(
                    f"{name} must be a non-empty sequence of positive integers, got {getattr(self, name)!r}; "
                    f"for example {name}={example}."
                )
        if self.architecture == "transformer" and self.d_model % self.n_heads:
            raise ValueError(
                f"n_heads={self.n_heads} must divide d_model={self.d_model}; for example d_model=32, n_heads=4."
            )
        if self.padding >= self.kernel_size:
            raise ValueError(
                f"padding={self.padding} must be smaller than kernel_size={self.kernel_size}; "
                f"the default geometry is kernel_size=4, stride=2, padding=1."
            )
        if self.mse_weight == 0 and self.sam_weight == 0 and self.gradient_weight == 0 and self.mae_weight == 0:
            raise ValueError(
                "mse_weight, sam_weight, gradient_weight and mae_weight are all 0, so there is nothing "
                "to train against; give at least one of them a positive weight."
            )
        check_device(self.device)
        self._check_shrinkage(n_features)

    @staticmethod
    def _check_magnitude(X, what="X"):
        """Refuse values whose squares, summed over the features, overflow float32.

        The network, its loss and its outputs are computed in float32: squared
        errors, spectral norms and BatchNorm variances of larger values are
        inf, and the loss or the outputs NaN.
        """
        # max and -min rather than abs(X): no temporary copy of X
        peak = max(float(X.max()), -float(X.min())) if X.size else 0.0
        limit = float(np.sqrt(_FLOAT32_MAX / (16 * max(1, X.shape[1]))))
        if peak > limit:
            raise ValueError(
                f"{what} has values up to {peak:.3g} in magnitude, but AEDEncoder computes in "
                f"float32, where the squares of values beyond {limit:.3g} summed over "
                f"{X.shape[1]} features overflow (the loss or the outputs would be inf or NaN); "
                f"scale the data first, e.g. with SpectralResampler(scaling='range') before the "
                f"encoder, or divide X by its largest value."
            )

    def _check_network_size(self, n_features):
        """Refuse parameters whose network would not fit in memory, before allocating it."""
        with torch.device("meta"):  # shapes only: nothing is allocated
            module = _ARCHITECTURES[self.architecture](**self._module_params(n_features))
        n_weights = sum(p.numel() for p in module.parameters())
        activations = module.activations_per_spectrum() * min(self.batch_size, 1 << 20)
        # float32: weights, gradients and Adam's two moments; activations kept for backward
        needed = 4 * (4 * n_weights + 2 * activations)
        if needed > _MAX_TRAINING_BYTES:
            raise ParameterError(
                "These parameters make a {architecture} network of {n_weights} weights for "
                "{n_features} features, whose training needs about {gib} GiB with {batch_size} "
                "(more than {limit} GiB); lower {zdims}, channels, hidden_sizes, d_model, n_layers "
                "or {batch}.",
                architecture=repr(self.architecture),
                n_weights=f"{n_weights:,}",
                n_features=n_features,
                gib=f"{needed / 2**30:.1f}",
                batch_size=Param("batch_size", self.batch_size),
                limit=_MAX_TRAINING_BYTES >> 30,
                zdims=Param("zdims"),
                batch=Param("batch_size"),
            )

    def _module_params(self, n_features):
        common = {
            "n_bands": n_features,
            "zdims": self.zdims,
            "latent_activation": self.latent_activation,
            # Unmixing-style codes (non-negative or sparse) cannot sit on fixed principal axes.
            "linear_path": self.linear_path and self.latent_activation is None and not self.latent_l1,
        }
        if self.architecture == "conv":
            return {
                **common,
                "channels": tuple(self.channels),
                "kernel_size": self.kernel_size,
                "stride": self.stride,
                "padding": self.padding,
            }
        if self.architecture == "dense":
            return {**common, "hidden_sizes": tuple(self.hidden_sizes)}
        if self.architecture == "lstm":
            return {**common, "hidden_size": self.d_model, "n_layers": self.n_layers, "token_size": self.token_size}
        return {
            **common,
            "d_model": self.d_model,
            "n_layers": self.n_layers,
            "n_heads": self.n_heads,
            "token_size": self.token_size,
        }

    # -- fitting --------------------------------------------------------------

    def _build_net(self, n_features, seed, n_samples=None, relu_sample=None):
        callbacks = []
        if self.validation_fraction > 0:
            callbacks.append(
                (
                    "early_stopping",
                    EarlyStopping(
                        monitor="valid_loss",
                        patience=self.patience,
                        threshold=self.tol,
                        threshold_mode="rel",
                        load_best=True,
                    ),
                )
            )
        if self.lr_schedule == "cosine" and n_samples is not None:
            n_train = n_samples - n_holdout(n_samples, self.validation_fraction, self.epoch_size)
            per_epoch = n_train if self.epoch_size is None else min(n_train, self.epoch_size)
            callbacks.append(("lr_schedule", CosineSchedule(self.lr, self.max_epochs * per_epoch)))
        if relu_sample is not None:  # after early stopping's snapshot: best weights are trained ones
            callbacks.append(("revive_dead_units", _ReviveDeadUnits(relu_sample)))
        if self.verbose:
            callbacks.append(("progress", EpochProgress(self.max_epochs)))
        train_split = HoldOut(self.validation_fraction, self.epoch_size, seed) if self.validation_fraction > 0 else None
        return _AEDNet(
            module=_ARCHITECTURES[self.architecture],
            **{f"module__{k}": v for k, v in self._module_params(n_features).items()},
            criterion=SpectralLoss,
            criterion__mse_weight=self.mse_weight,
            criterion__sam_weight=self.sam_weight,
            criterion__gradient_weight=self.gradient_weight,
            criterion__mae_weight=self.mae_weight,
            criterion__sam_offset=self.sam_offset_,  # set by fit (or a model file) before the net
            latent_l1=self.latent_l1,
            optimizer=Adam,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=SliceIterator,
            iterator_train__shuffle=True,
            iterator_train__epoch_size=self.epoch_size,
            iterator_valid=SliceIterator,
            iterator_valid__batch_size=self.inference_batch_size,
            train_split=train_split,
            callbacks=callbacks,
            verbose=int(self.verbose >= 2),
            device=self.device,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Train the autoencoder on spectra ``X``.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_bands)
            One spectrum per row, typically the output of
            :class:`SpectralResampler`.
        y : None
            Ignored.

        Returns
        -------
        self : AEDEncoder
        """
        refuse_cube(X, type(self).__name__)
        X = validate_data(self, X, dtype=[np.float32, np.float64])
        self._check_params(*X.shape)
        self._check_magnitude(X)
        self._check_network_size(X.shape[1])
        random_state = check_random_state(self.random_state)
        seed = int(random_state.randint(np.iinfo(np.int32).max))
        # Spectral angles are taken between non-negative spectra, not centred ones.
        self.sam_offset_ = float(max(0.0, -float(X.min())))
        Xt = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))

        devices = [torch.device(self.device)] if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices, device_type="cuda" if devices else "cpu"):
            torch.manual_seed(seed)
            relu_sample = Xt[:: max(1, -(-len(Xt) // _DEAD_UNIT_SAMPLE))] if self.latent_activation == "relu" else None
            net = self._build_net(X.shape[1], seed, n_samples=X.shape[0], relu_sample=relu_sample)
            net.initialize()
            variances = net.module_.fit_linear_path(Xt)
            net.baseline_loss = self._mean_spectrum_loss(net.criterion_, Xt)
            n_workers = worker_count(self.device, -(-self.batch_size // SHARD_SIZE))
            try:
                # one torch thread here and in each worker (see hsiae._training)
                with one_torch_thread():
                    net.fit_sharded(Xt, n_workers)
            except _TrainingDiverged as exc:
                self._forget_fit()
                raise exc.with_traceback(None) from None  # the message says it all
        net.module_.eval()
        if self.shrinkage == "wiener":
            self.noise_variance_ = net.module_.wiener_gains(variances)
            self.shrinkage_gains_ = net.module_.path_gains.detach().cpu().numpy().astype(np.float64)
        else:  # a refit without shrinkage leaves no gains of an earlier fit behind
            self.__dict__.pop("noise_variance_", None)
            self.__dict__.pop("shrinkage_gains_", None)

        hist = net.history
        self.history_ = {
            "epoch": np.asarray(hist[:, "epoch"], dtype=int),
            "train_loss": np.asarray(hist[:, "train_loss"], dtype=float),
            "dur": np.asarray(hist[:, "dur"], dtype=float),
        }
        if self.validation_fraction > 0:
            valid = np.asarray(hist[:, "valid_loss"], dtype=float)
            self.history_["valid_loss"] = valid
            self.best_epoch_ = int(self.history_["epoch"][np.argmin(valid)])
        else:
            self.best_epoch_ = int(self.history_["epoch"][-1])
        self.n_epochs_ = len(hist)
        if self.validation_fraction > 0 and self.n_epochs_ == self.max_epochs:
            falling = still_improving(self.history_["valid_loss"], self.patience, self.tol)
            if falling is not None:
                fall, window = falling
                warnings.warn(
                    _StillFalling(
                        "Training stopped at {max_epochs} with the validation loss still falling: by "
                        "{fall} over the last {window}; increase {epochs} (or {lr}) to train to convergence.",
                        max_epochs=Param("max_epochs", self.max_epochs),
                        fall=f"{fall:.2%}",
                        window=f"{window} epoch{'s' if window > 1 else ''}",
                        epochs=Param("max_epochs"),
                        lr=Param("lr"),
                    ),
                    stacklevel=2,
                )
        self.net_ = net
        if relu_sample is not None:
            self._warn_dead_units(net, relu_sample)
        return self

    def _warn_dead_units(self, net, sample):
        """Warn when ReLU latent units are still 0 for every training spectrum after training."""
        pre = net.module_.latent_pre_activations(sample.to(net.device))
        n_dead = int((pre <= 0).all(dim=0).sum())
        if n_dead:
            revived = dict(net.callbacks_)["revive_dead_units"].revived
            warnings.warn(
                _DeadLatentUnits(
                    "{n_dead} of the {zdims} latent units ({zdims_name}) are 0 for every training spectrum "
                    "('dead' ReLU units: they carry no information), although {revived} were revived during training; "
                    "lower {lr}, use {softplus}, or a smaller {zdims_name}.",
                    n_dead=n_dead,
                    zdims=self.zdims,
                    revived=revived,
                    lr=Param("lr"),
                    softplus=Param("latent_activation", "softplus"),
                    zdims_name=Param("zdims"),
                ),
                stacklevel=3,
            )

    @staticmethod
    @torch.no_grad()
    def _mean_spectrum_loss(criterion, Xt, max_rows=10_000):
        """The loss of reconstructing every spectrum by the mean spectrum (on a row sample)."""
        sample = Xt[:: max(1, -(-len(Xt) // max_rows))]
        return float(criterion(sample.mean(dim=0).expand_as(sample), sample))

    def _forget_fit(self):
        """Remove every fitted attribute: a failed fit leaves an unfitted encoder, not a broken one."""
        for name in [k for k in vars(self) if k.endswith("_") and not k.startswith("__")]:
            delattr(self, name)

    # -- the trained network's weights ------------------------------------------

    @property
    def _n_features_out(self):
        """Latent dimensions, for ``get_feature_names_out`` (AttributeError before fit)."""
        self.net_  # noqa: B018 (raises AttributeError, so that unfitted encoders have no names)
        return self.zdims

    def weight_shapes(self, n_features=None):
        """The names and shapes of the tensors of this encoder's network, allocating nothing.

        Parameters
        ----------
        n_features : int, default=None
            Input bands; by default ``n_features_in_``.

        Returns
        -------
        shapes : dict of str to tuple of int

        Raises
        ------
        ValueError
            If the parameters do not describe a network for that many bands.
        """
        n_features = self.n_features_in_ if n_features is None else n_features
        self._check_geometry(n_features)
        with torch.device("meta"):  # shapes only
            module = _ARCHITECTURES[self.architecture](**self._module_params(n_features))
        return {k: tuple(v.shape) for k, v in module.state_dict().items()}

    def set_weights(self, weights):
        """Build the network for these parameters and ``n_features_in_`` and load ``weights`` into it.

        For restoring a saved encoder: its parameters and fitted attributes
        (``n_features_in_``, ``sam_offset_``, ...) set, the weights from
        :meth:`get_weights`. The network is built on ``device``; the caller's
        global torch random state is left untouched.

        Parameters
        ----------
        weights : dict of str to torch.Tensor
            Exactly the tensors of :meth:`weight_shapes`.

        Returns
        -------
        self : AEDEncoder

        Raises
        ------
        ValueError
            If a tensor is missing, unexpected or of another shape.
        """
        mismatch = self.weight_mismatch(weights)
        if mismatch is not None:
            raise ValueError(f"The weights do not fit the encoder's network: {mismatch}.")
        # Building the net draws random initial weights: keep the caller's global RNG untouched.
        with torch.random.fork_rng(devices=[]):
            net = self._build_net(self.n_features_in_, 0)
            net.initialize()
        net.module_.load_state_dict(weights, strict=True)
        net.module_.eval()
        self.net_ = net
        return self

    # -- inference ------------------------------------------------------------

    def _module(self):
        """The inference copy of the trained module (BatchNorm folded; cached) and its device."""
        module = self.net_.module_
        module.eval()
        return _inference_module(module), next(module.parameters()).device

    def _batches(self, n, desc):
        """Slices of ``inference_batch_size`` rows; a progress bar with ``verbose`` on a terminal."""
        step = self.inference_batch_size
        starts = range(0, n, step)
        if self.verbose and len(starts) > 1:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=desc, unit="batch", disable=None, leave=False)
        return ((start, min(start + step, n)) for start in starts)

    def _batched(self, X, fn, n_out, desc="inference"):
        """Apply ``fn`` to float32 batches of ``X``; fill a preallocated output of X's dtype.

        On the CPU the batches are shared among :func:`hsiae._training.worker_count`
        threads of one torch thread each; every batch is computed exactly as
        in a single loop, so the output does not depend on the thread count.
        """
        module, device = self._module()
        out = np.empty((X.shape[0], n_out), dtype=X.dtype)
        batches = self._batches(X.shape[0], desc)
        n_workers = worker_count(device, -(-X.shape[0] // self.inference_batch_size))

        def run(bounds):
            n_bad = 0
            with torch.inference_mode():
                for start, stop in bounds:
                    xb = torch.from_numpy(np.ascontiguousarray(X[start:stop], dtype=np.float32))
                    result = fn(module, xb.to(device))
                    # checked per batch: a finiteness mask of the whole output is a large temporary
                    n_bad += int((~torch.isfinite(result)).any(dim=1).sum())
                    out[start:stop] = result.cpu().numpy()
            return n_bad

        if n_workers == 1:
            n_bad = run(batches)
        else:
            # The batches are handed out one at a time, in order, so a progress bar advances
            # steadily and the workers stay busy until the last one.
            lock = threading.Lock()
            batches = iter(batches)

            def next_batches():
                while True:
                    with lock:
                        bounds = next(batches, None)
                    if bounds is None:
                        return
                    yield bounds

            def worker():
                with one_torch_thread():
                    return run(next_batches())

            with ThreadPoolExecutor(n_workers, thread_name_prefix="hsiae-inference") as pool:
                futures = [pool.submit(worker) for _ in range(n_workers)]
                n_bad = sum(f.result() for f in futures)
        if n_bad:
            raise FloatingPointError(
                f"The network gave NaN or inf for {n_bad} "
                f"of {len(out)} rows; their values are far outside the range it was trained on: "
                f"scale them as the training data were scaled."
            )
        return out

    def transform(self, X):
        """Encode spectra into latent codes.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_features_in_)

        Returns
        -------
        Z : ndarray of shape (n_pixels, zdims)
            In the dtype of ``X`` (float32 or float64).
        """
        check_is_fitted(self)
        refuse_cube(X, type(self).__name__)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        self._check_magnitude(X)
        return self._batched(X, lambda m, xb: m.encode(xb), self.zdims, "encoding")

    def inverse_transform(self, X):
        """Decode latent codes into spectra.

        Parameters
        ----------
        X : array-like of shape (n_pixels, zdims)
            Latent codes, e.g. from :meth:`transform` or the cluster centres
            ``SpatialGMMSegmenter.means_``.

        Returns
        -------
        X_rec : ndarray of shape (n_pixels, n_features_in_)
            Reconstructed spectra, in the dtype of ``X``.
        """
        check_is_fitted(self)
        Z = check_array(X, dtype=[np.float32, np.float64])
        if Z.shape[1] != self.zdims:
            raise ValueError(
                f"X has {Z.shape[1]} features, but AEDEncoder.inverse_transform expects {self.zdims} "
                f"(zdims); pass latent codes from transform."
            )
        self._check_magnitude(Z, "The latent codes X")
        return self._batched(Z, lambda m, zb: m.decode(zb), self.n_features_in_, "decoding")

    def reconstruct(self, X):
        """Encode and decode spectra in one pass: the denoised spectra.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_features_in_)

        Returns
        -------
        X_rec : ndarray of shape (n_pixels, n_features_in_)
        """
        check_is_fitted(self)
        refuse_cube(X, type(self).__name__)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        self._check_magnitude(X)
        return self._batched(X, lambda m, xb: m(xb)[0], self.n_features_in_, "reconstructing")

    def score(self, X, y=None):
        """Minus the mean reconstruction loss of ``X`` (higher is better).

        The loss is the training criterion without the latent L1 penalty:
        ``mse_weight * MSE + sam_weight * SAM + gradient_weight * G``, averaged
        over spectra. It compares encoders on the same data, scaling and loss
        weights (for example different ``zdims``); it cannot be compared
        across differently scaled inputs or different loss weights.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_features_in_)
        y : None
            Ignored.

        Returns
        -------
        score : float
        """
        check_is_fitted(self)
        refuse_cube(X, type(self).__name__)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False)
        self._check_magnitude(X)
        criterion = SpectralLoss(
            self.mse_weight, self.sam_weight, self.gradient_weight, self.sam_offset_, mae_weight=self.mae_weight
        )
        module, device = self._module()
        total = 0.0
        with torch.inference_mode():
            for start, stop in self._batches(X.shape[0], "scoring"):
                xb = torch.from_numpy(np.ascontiguousarray(X[start:stop], dtype=np.float32)).to(device)
                total += float(criterion(module(xb)[0], xb)) * len(xb)
        return -total / X.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = False
        return tags
