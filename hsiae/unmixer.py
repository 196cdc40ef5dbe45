"""AEUnmixer: blind linear unmixing by an autoencoder, as a scikit-learn transformer trained with skorch."""

import math
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin, _fit_context
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_array, check_is_fitted, validate_data
from torch import nn

from hsiae._checks import refuse_cube
from hsiae._training import (
    SHARD_SIZE,
    Adam,
    CosineSchedule,
    EpochProgress,
    NetworkStateMixin,
    ShardedNet,
    SliceIterator,
    check_device,
    one_torch_thread,
    worker_count,
)
from hsiae.exceptions import Param, ParameterError
from hsiae.losses import spectral_angle
from hsiae.metrics import spectral_angles
from hsiae.unmixing import fcls, simplex_volume, vca

__all__ = ["AEUnmixer"]

# Negative values down to this share of the largest magnitude are taken as noise around zero reflectance.
_NEGATIVE_TOLERANCE = 0.05
# Pixels VCA initialises the endmembers from at most (it reads every pixel it is given).
_VCA_SAMPLE = 100_000
# VCA runs (random directions) among which the start with the largest simplex is kept.
_VCA_RUNS = 10


class _UnmixingNetwork(nn.Module):
    """Encoder to abundances (softmax: non-negative, summing to one), linear decoder whose weights are the endmembers.

    The decoder's weights enter as their absolute values, so the endmembers
    are non-negative; with ``unit_norm`` each is divided by its L2 norm, so
    that an abundance is the share of an endmember's shape in a pixel whose
    brightness has been divided out.
    """

    def __init__(self, n_bands, n_endmembers, hidden_sizes, unit_norm, endmembers=None):
        super().__init__()
        layers, width = [], n_bands
        for size in hidden_sizes:
            layers += [nn.Linear(width, size), nn.LeakyReLU(0.1)]
            width = size
        # BatchNorm of the logits keeps the softmax away from saturation early in training
        layers += [nn.Linear(width, n_endmembers), nn.BatchNorm1d(n_endmembers)]
        self.encoder = nn.Sequential(*layers)
        self.unit_norm = unit_norm
        if endmembers is None:
            endmembers = torch.rand(n_endmembers, n_bands)
        self.weight = nn.Parameter(torch.as_tensor(endmembers, dtype=torch.float32).clone())

    def endmembers(self):
        E = self.weight.abs()
        if self.unit_norm == "l2":
            E = E / E.norm(dim=1, keepdim=True).clamp_min(1e-12)
        elif self.unit_norm == "l1":
            E = E / E.sum(dim=1, keepdim=True).clamp_min(1e-12)
        return E

    def encode(self, x):
        return torch.softmax(self.encoder(x), dim=1)

    def decode(self, a):
        return a @ self.endmembers()

    def forward(self, x):
        a = self.encode(x)
        return self.decode(a), a


class _TrainingDiverged(ParameterError):
    """The training loss became NaN or infinite."""


class _UnmixingNet(ShardedNet):
    """The skorch net of :class:`AEUnmixer`: its loss, and a stop at a non-finite training loss."""

    def __init__(
        self, *args, mse_weight=10.0, sam_weight=1.0, sparsity_weight=0.0, volume_weight=0.0, power=1.0, **kwargs
    ):
        super().__init__(*args, **kwargs)
        self.mse_weight = mse_weight
        self.sam_weight = sam_weight
        self.sparsity_weight = sparsity_weight
        self.volume_weight = volume_weight
        self.power = power

    def check_training_loss(self, value):
        if not math.isfinite(value):
            raise _TrainingDiverged(
                "AEUnmixer's training loss became {value} in epoch {epoch} with {lr}: training was "
                "stopped and the unmixer left unfitted; lower {lr_name} (the default is 1e-2).",
                value=value,
                epoch=len(self.history),
                lr=Param("lr", float(self.lr)),
                lr_name=Param("lr"),
            )

    def get_loss(self, y_pred, y_true, X=None, training=False):
        decoded, abundances = y_pred
        x = torch.as_tensor(X, device=decoded.device)
        loss = decoded.new_zeros(())
        if self.mse_weight:
            loss = loss + self.mse_weight * torch.mean((decoded - x) ** 2) / self.power
        if self.sam_weight:
            loss = loss + self.sam_weight * spectral_angle(decoded, x)
        if self.sparsity_weight:
            entropy = -(abundances * torch.log(abundances.clamp_min(1e-12))).sum(dim=1).mean()
            loss = loss + self.sparsity_weight * entropy
        if self.volume_weight:
            E = self.module_.endmembers()
            loss = loss + self.volume_weight * torch.mean((E - E.mean(dim=0)) ** 2) / self.power
        return loss


class AEUnmixer(NetworkStateMixin, ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Blind linear unmixing with an autoencoder: endmember spectra and per-pixel abundances.

    A dense encoder maps each spectrum to an abundance vector through a
    softmax (non-negative, summing to one); a linear decoder without bias
    mixes the endmembers, its non-negative weights, back into the spectrum.
    The decoder starts from the endmembers that :func:`hsiae.unmixing.vca`
    finds and training refines them. :meth:`transform` gives the
    abundances, :meth:`inverse_transform` the spectra ``A @ endmembers_``.

    Parameters
    ----------
    n_endmembers : int
        Number of endmembers (pure materials).
    hidden_sizes : tuple of int or None, default=None
        Widths of the encoder's hidden layers (LeakyReLU); None uses
        ``(9, 6, 3)`` times ``n_endmembers``.
    normalize : {"l2"} or None, default="l2"
        "l2": every spectrum is divided by its Euclidean norm before it is
        encoded and reconstructed, and the endmembers are kept at unit norm.
        A pixel is modelled as a brightness times a mixture of the
        endmembers' shapes, ``x = s * (a @ E)``, so an abundance is the share
        of an endmember's shape in the pixel, whatever the illumination,
        topography or the endmembers' own brightness. This is how the
        published abundance maps of the Samson and Jasper Ridge scenes
        behave: fully constrained least squares with their ground-truth
        endmembers reproduces them far better on L2-normalised pixels than
        on the pixels as stored. None: plain linear mixing ``x = a @ E`` of
        endmembers in the data's units, where an abundance is the share of
        the signal, not of the area; endmembers then keep their own scale.
    init : {"vca", "random"}, default="vca"
        Starting endmembers: of 10 runs of :func:`~hsiae.unmixing.vca` (on
        at most 100,000 pixels), the one whose endmembers span the largest
        simplex (:func:`~hsiae.unmixing.simplex_volume`); or randomly drawn
        pixels.
    solver : {"encoder", "fcls"}, default="encoder"
        How :meth:`transform` finds abundances: the trained encoder (one
        forward pass), or fully constrained least squares with the learned
        endmembers (:func:`~hsiae.unmixing.fcls`, on the spectra as the model
        sees them: L2-normalised with ``normalize="l2"``), the best
        abundances the endmembers allow for each pixel. Only used after
        fitting, so it can be changed on a fitted unmixer with
        ``set_params(solver="fcls")``.
    mse_weight : float, default=10.0
        Weight of the squared error relative to the data's mean power,
        ``mean((x_hat - x)**2) / mean(x**2)``.
    sam_weight : float, default=1.0
        Weight of the mean spectral angle (radians) between spectra and their
        reconstructions.
    sparsity_weight : float, default=0.02
        Weight of the mean entropy of the abundance vectors (natural log): it
        favours pixels made of few endmembers; too strong a pull moves the
        endmembers away from pure spectra to make the pixels purer.
    volume_weight : float, default=0.0
        Weight of a minimum-volume term, the spread of the endmembers around
        their mean relative to the data's power; it pulls endmembers in when
        the data have no pure pixels and the simplex would otherwise grow.
    lr : float, default=1e-2
        Peak learning rate of Adam; it warms up over the first 5 % of the
        training budget and falls to zero along a half cosine.
    batch_size : int, default=256
        Spectra per training step.
    max_epochs : int, default=60
        Epochs of training; there is no early stopping.
    epoch_size : int or None, default=20_000
        Spectra drawn per epoch (the next ones of a random permutation, as in
        :class:`AEDEncoder`), so training costs at most
        ``max_epochs * epoch_size`` spectra whatever the image size; None
        makes every epoch a pass over all pixels.
    inference_batch_size : int, default=4096
        Spectra per batch in :meth:`transform` and :meth:`score`; bounds their
        memory.
    device : str, default="cpu"
        Torch device.
    random_state : int, RandomState instance or None, default=None
        Seeds VCA, the weights and the batch order: the same seed and data
        give the same result on the CPU. The caller's torch random state is
        left untouched.
    verbose : int, default=0
        0: silent; 1: training progress; 2: also skorch's table of losses.

    Attributes
    ----------
    endmembers_ : ndarray of shape (n_endmembers, n_features_in_)
        Endmember spectra as rows, non-negative, in the input's bands and
        units. With ``normalize="l2"`` they share one norm, the median norm
        of the training spectra, so that ``A @ endmembers_`` is a mixture at
        a typical brightness; compare them with reference spectra by the
        spectral angle (:func:`hsiae.metrics.endmember_angles`).
    init_endmembers_ : ndarray of shape (n_endmembers, n_features_in_)
        The starting endmembers (from VCA), in the same scale.
    net_ : skorch.NeuralNet
        The trained net; ``net_.module_`` is the torch module.
    history_ : dict of ndarray
        Per epoch: ``"epoch"``, ``"train_loss"`` and ``"dur"`` (seconds).
    n_epochs_ : int
        Epochs run.
    n_features_in_ : int
        Number of bands seen in :meth:`fit`.

    See Also
    --------
    hsiae.unmixing.vca : Endmembers among the pixels.
    hsiae.unmixing.fcls : Abundances for given endmembers, e.g. ``fcls(X, unmixer.endmembers_)``.
    hsiae.unmix_cube : Fit on a sample of a cube, abundances for every pixel.

    Notes
    -----
    The loss is ``mse_weight * relative MSE + sam_weight * SAM +
    sparsity_weight * entropy + volume_weight * volume``. The squared-error
    term carries the endmembers: with the spectral angle alone, which does
    not see brightness, they drift away from pure spectra. Compute is in float32; outputs come back in the input's
    float dtype.

    References
    ----------
    B. Palsson, J. Sigurdsson, J. R. Sveinsson and M. O. Ulfarsson,
    "Hyperspectral unmixing using a neural network autoencoder", IEEE Access
    6:25646-25656, 2018.

    Examples
    --------
    >>> from hsiae import AEUnmixer
    >>> from hsiae.datasets import make_unmixing_scene
    >>> scene = make_unmixing_scene(n_endmembers=3, shape=(20, 20), random_state=0)
    >>> X = scene.cube.reshape(-1, scene.cube.shape[-1])
    >>> unmixer = AEUnmixer(3, max_epochs=5, random_state=0).fit(X)
    >>> A = unmixer.transform(X)
    >>> A.shape, bool(abs(A.sum(axis=1) - 1).max() < 1e-5)
    ((400, 3), True)
    """

    _parameter_constraints = {
        "n_endmembers": [Interval(Integral, 1, None, closed="left")],
        "hidden_sizes": [tuple, list, None],
        "normalize": [StrOptions({"l1", "l2"}), None],
        "init": [StrOptions({"vca", "random"})],
        "solver": [StrOptions({"encoder", "fcls"})],
        "mse_weight": [Interval(Real, 0, None, closed="left")],
        "sam_weight": [Interval(Real, 0, None, closed="left")],
        "sparsity_weight": [Interval(Real, 0, None, closed="left")],
        "volume_weight": [Interval(Real, 0, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "batch_size": [Interval(Integral, 2, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
        "epoch_size": [Interval(Integral, 2, None, closed="left"), None],
        "inference_batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        n_endmembers=3,
        *,
        hidden_sizes=None,
        normalize="l2",
        init="vca",
        solver="encoder",
        mse_weight=10.0,
        sam_weight=1.0,
        sparsity_weight=0.02,
        volume_weight=0.0,
        lr=1e-2,
        batch_size=256,
        max_epochs=60,
        epoch_size=20_000,
        inference_batch_size=4096,
        device="cpu",
        random_state=None,
        verbose=0,
    ):
        self.n_endmembers = n_endmembers
        self.hidden_sizes = hidden_sizes
        self.normalize = normalize
        self.init = init
        self.solver = solver
        self.mse_weight = mse_weight
        self.sam_weight = sam_weight
        self.sparsity_weight = sparsity_weight
        self.volume_weight = volume_weight
        self.lr = lr
        self.batch_size = batch_size
        self.max_epochs = max_epochs
        self.epoch_size = epoch_size
        self.inference_batch_size = inference_batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # -- checks ---------------------------------------------------------------------------------

    def _hidden_sizes(self):
        if self.hidden_sizes is None:
            return tuple(m * self.n_endmembers for m in (9, 6, 3))
        sizes = tuple(self.hidden_sizes)
        if not all(isinstance(s, Integral) and not isinstance(s, bool) and s >= 1 for s in sizes):
            raise ParameterError(
                "{name} must be a sequence of positive integers or None, got {value!r}; for example {example}.",
                name=Param("hidden_sizes"),
                value=self.hidden_sizes,
                example=Param("hidden_sizes", (27, 18, 9)),
            )
        return sizes

    def _check_params(self, n_samples, n_features):
        if self.mse_weight == 0 and self.sam_weight == 0:
            raise ParameterError(
                "{mse} and {sam} are both 0, so nothing ties the endmembers to the data; give at least "
                "one of them a positive weight.",
                mse=Param("mse_weight"),
                sam=Param("sam_weight"),
            )
        if n_samples < 2:
            raise ValueError(
                f"AEUnmixer needs at least 2 spectra to train (its encoder normalises batches), got "
                f"{n_samples} sample(s); pass more pixels."
            )
        if self.n_endmembers > n_features:
            raise ParameterError(
                "{k} needs at least as many bands, but X has {n} feature(s); ask for fewer endmembers.",
                k=Param("n_endmembers", self.n_endmembers),
                n=n_features,
            )
        if self.n_endmembers > n_samples:
            raise ParameterError(
                "{k} needs at least as many pixels, but X has {n} sample(s); pass more pixels or ask "
                "for fewer endmembers.",
                k=Param("n_endmembers", self.n_endmembers),
                n=n_samples,
            )
        self._hidden_sizes()
        check_device(self.device)

    @staticmethod
    def _check_values(X):
        """Refuse NaN, infinite and clearly negative spectra (a mixture of non-negative endmembers cannot be)."""
        if X.size == 0:
            return
        low, high = float(X.min()), float(X.max())
        if not (math.isfinite(low) and math.isfinite(high)):
            raise ValueError(
                "X has NaN or infinite values; leave the no-data pixels out first (hsiae.pixel_spectra "
                "gives the mask of usable pixels, hsiae.unmix_cube does it for a cube)."
            )
        peak = max(abs(low), abs(high))
        if low < -_NEGATIVE_TOLERANCE * peak:
            raise ValueError(
                f"Negative values in data passed to AEUnmixer: X goes down to {low:.3g} (its largest "
                f"magnitude is {peak:.3g}), but a mixture of non-negative endmembers is never negative. "
                f"Pass reflectance or radiance as it is, or scale it without centring, e.g. "
                f"SpectralResampler(scaling=None) before the unmixer."
            )

    # -- data -----------------------------------------------------------------------------------

    def _prepare(self, X):
        """X in float32, each row divided by its L2 norm with normalize="l2" (all-zero rows stay zero)."""
        X32 = np.asarray(X, dtype=np.float32)
        if self.normalize is None:
            return np.ascontiguousarray(X32)
        if self.normalize == "l1":
            norms = np.abs(X32).sum(axis=1, dtype=np.float64)
        else:
            norms = np.sqrt(np.einsum("ij,ij->i", X32, X32, dtype=np.float64))
        norms[norms == 0] = 1.0
        return (X32 / norms[:, None]).astype(np.float32)

    def _initial_endmembers(self, Xn, random_state):
        k = self.n_endmembers
        if self.init == "vca":
            rows = np.arange(len(Xn))
            if len(Xn) > _VCA_SAMPLE:
                rows = np.sort(random_state.choice(len(Xn), _VCA_SAMPLE, replace=False))
            Y = Xn[rows].astype(np.float64)
            runs = [vca(Y, k, random_state=random_state)[0] for _ in range(_VCA_RUNS)]
            E = runs[int(np.argmax([simplex_volume(E, Y) for E in runs]))]
        else:
            E = Xn[random_state.choice(len(Xn), k, replace=False)].astype(np.float64)
        E = np.abs(E)
        # an all-zero start (a dark pixel) has no direction; a flat spectrum does
        E[~np.any(E > 0, axis=1)] = 1.0
        if self.normalize == "l2":
            E = E / np.linalg.norm(E, axis=1, keepdims=True)
        elif self.normalize == "l1":
            E = E / E.sum(axis=1, keepdims=True)
        return E

    # -- fitting --------------------------------------------------------------------------------

    def _build_net(self, n_features, E0, power, n_samples):
        per_epoch = n_samples if self.epoch_size is None else min(n_samples, self.epoch_size)
        callbacks = [("lr_schedule", CosineSchedule(self.lr, self.max_epochs * per_epoch))]
        if self.verbose:
            callbacks.append(("progress", EpochProgress(self.max_epochs)))
        return _UnmixingNet(
            module=_UnmixingNetwork,
            module__n_bands=n_features,
            module__n_endmembers=self.n_endmembers,
            module__hidden_sizes=self._hidden_sizes(),
            module__unit_norm=self.normalize,
            module__endmembers=E0,
            criterion=nn.MSELoss,  # unused: get_loss computes the loss; skorch requires one
            mse_weight=self.mse_weight,
            sam_weight=self.sam_weight,
            sparsity_weight=self.sparsity_weight,
            volume_weight=self.volume_weight,
            power=power,
            optimizer=Adam,
            lr=self.lr,
            max_epochs=self.max_epochs,
            batch_size=self.batch_size,
            iterator_train=SliceIterator,
            iterator_train__shuffle=True,
            iterator_train__epoch_size=self.epoch_size,
            train_split=None,
            callbacks=callbacks,
            verbose=int(self.verbose >= 2),
            device=self.device,
        )

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Learn endmembers and the encoder from spectra ``X``.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_bands)
            One spectrum per row, non-negative (reflectance or radiance);
            small negative values from noise are accepted.
        y : None
            Ignored.

        Returns
        -------
        self : AEUnmixer
        """
        refuse_cube(X, type(self).__name__)
        X = validate_data(self, X, dtype=[np.float32, np.float64], ensure_all_finite=False)
        self._check_values(X)
        self._check_params(*X.shape)
        random_state = check_random_state(self.random_state)
        Xn = self._prepare(X)
        E0 = self._initial_endmembers(Xn, random_state)
        seed = int(random_state.randint(np.iinfo(np.int32).max))
        power = max(float(np.mean(Xn.astype(np.float64) ** 2)), 1e-30)
        Xt = torch.from_numpy(Xn)
        devices = [torch.device(self.device)] if self.device.startswith("cuda") else []
        with torch.random.fork_rng(devices=devices, device_type="cuda" if devices else "cpu"):
            torch.manual_seed(seed)
            net = self._build_net(X.shape[1], E0, power, X.shape[0])
            net.initialize()
            n_workers = worker_count(self.device, -(-self.batch_size // SHARD_SIZE))
            with one_torch_thread():
                net.fit_sharded(Xt, n_workers)
        net.module_.eval()
        hist = net.history
        self.history_ = {
            "epoch": np.asarray(hist[:, "epoch"], dtype=int),
            "train_loss": np.asarray(hist[:, "train_loss"], dtype=float),
            "dur": np.asarray(hist[:, "dur"], dtype=float),
        }
        self.n_epochs_ = len(hist)
        self.net_ = net
        # one common scale: the median brightness of the training spectra (see endmembers_)
        if self.normalize is not None:
            norms = (
                np.abs(X).sum(axis=1)
                if self.normalize == "l1"
                else np.sqrt(np.einsum("ij,ij->i", X, X, dtype=np.float64))
            )
            self.scale_ = float(np.median(norms)) or 1.0
        else:
            self.scale_ = 1.0
        with torch.no_grad():
            E = net.module_.endmembers().cpu().numpy().astype(np.float64)
        self.endmembers_ = E * self.scale_
        self.init_endmembers_ = np.abs(E0) * self.scale_
        return self

    # -- the trained network's weights ----------------------------------------------------------

    @property
    def _n_features_out(self):
        """Abundance columns, for ``get_feature_names_out`` (AttributeError before fit)."""
        self.net_  # noqa: B018 (raises AttributeError, so that an unfitted unmixer has no names)
        return self.n_endmembers

    def weight_shapes(self, n_features=None):
        """The names and shapes of the tensors of this unmixer's network, allocating nothing.

        The network is built on torch's ``meta`` device, so parameters read
        from an untrusted file cannot make this allocate memory.

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
            If the parameters do not describe a network for that many bands:
            ``hidden_sizes`` is not a sequence of positive integers, or
            ``n_endmembers`` exceeds the number of bands.
        """
        n_features = self.n_features_in_ if n_features is None else n_features
        hidden = self._hidden_sizes()
        if self.n_endmembers > n_features:
            raise ParameterError(
                "{k} needs at least as many bands, but the network has {n} input band(s).",
                k=Param("n_endmembers", self.n_endmembers),
                n=n_features,
            )
        with torch.device("meta"):  # shapes only
            module = _UnmixingNetwork(n_features, self.n_endmembers, hidden, self.normalize)
        return {k: tuple(v.shape) for k, v in module.state_dict().items()}

    def set_weights(self, weights):
        """Build the network for these parameters and ``n_features_in_`` and load ``weights`` into it.

        For restoring a saved unmixer: its parameters and fitted attributes
        (``n_features_in_``, ``endmembers_``, ``scale_``, ...) set, the
        weights from :meth:`get_weights`. The decoder's weights are the
        endmembers, so they are checked against ``endmembers_``: an unmixer
        whose two copies disagreed would give abundances (from the encoder)
        for other endmembers than :meth:`inverse_transform` and the
        ``"fcls"`` solver use. The network is built on ``device``, in
        evaluation mode; the caller's global torch random state is left
        untouched. The training loss's data scale and learning-rate schedule
        are not restored: :meth:`fit` trains a new network anyway.

        Parameters
        ----------
        weights : dict of str to torch.Tensor
            Exactly the tensors of :meth:`weight_shapes`.

        Returns
        -------
        self : AEUnmixer

        Raises
        ------
        ValueError
            If a tensor is missing, unexpected or of another shape, or if the
            decoder's endmembers times ``scale_`` differ from ``endmembers_``.
        """
        mismatch = self.weight_mismatch(weights)
        if mismatch is not None:
            raise ValueError(f"The weights do not fit the unmixer's network: {mismatch}.")
        # Building the net draws random initial weights: keep the caller's global RNG untouched.
        with torch.random.fork_rng(devices=[]):
            net = self._build_net(self.n_features_in_, None, 1.0, 1)
            net.initialize()
        net.module_.load_state_dict(weights, strict=True)
        net.module_.eval()
        with torch.no_grad():
            E = net.module_.endmembers().cpu().numpy().astype(np.float64) * self.scale_
        expected = np.asarray(self.endmembers_, dtype=np.float64)
        # float32 decoder weights: allow for rounding when they were computed on another device
        tolerance = 1e-6 * np.abs(E).max()
        if E.shape != expected.shape or not np.allclose(E, expected, rtol=1e-5, atol=tolerance):
            raise ValueError(
                "The decoder's weights give other endmembers than endmembers_ / scale_; set "
                "endmembers_, scale_ and the weights of one and the same fitted unmixer."
            )
        self.net_ = net
        return self

    # -- inference ------------------------------------------------------------------------------

    def _model_endmembers(self):
        """The endmembers as the model mixes them: at unit norm with ``normalize``, else as they are."""
        E = self.endmembers_
        if self.normalize == "l2":
            return E / np.linalg.norm(E, axis=1, keepdims=True).clip(1e-300)
        if self.normalize == "l1":
            return E / E.sum(axis=1, keepdims=True).clip(1e-300)
        return E

    def _abundances(self, X):
        if self.solver == "fcls":
            return fcls(self._prepare(X), self._model_endmembers()).astype(X.dtype, copy=False)
        module = self.net_.module_
        module.eval()
        device = next(module.parameters()).device
        out = np.empty((X.shape[0], self.n_endmembers), dtype=X.dtype)
        step = self.inference_batch_size
        with torch.inference_mode(), one_torch_thread():
            for start in range(0, X.shape[0], step):
                xb = torch.from_numpy(self._prepare(X[start : start + step])).to(device)
                out[start : start + len(xb)] = module.encode(xb).cpu().numpy()
        return out

    def transform(self, X):
        """Abundances of each spectrum: non-negative, summing to one.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_features_in_)

        Returns
        -------
        A : ndarray of shape (n_pixels, n_endmembers)
            Column ``j`` is the share of ``endmembers_[j]``, in the dtype of
            ``X`` (float32 or float64).
        """
        check_is_fitted(self)
        refuse_cube(X, type(self).__name__)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False, ensure_all_finite=False)
        self._check_values(X)
        return self._abundances(X)

    def inverse_transform(self, X):
        """Spectra of given abundances: ``X @ endmembers_``.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_endmembers)
            Abundances, e.g. from :meth:`transform`.

        Returns
        -------
        X_mixed : ndarray of shape (n_pixels, n_features_in_)
            In the dtype of ``X``. With ``normalize="l2"`` a mixture at the
            endmembers' common brightness; :meth:`reconstruct` gives each
            pixel's own brightness.
        """
        check_is_fitted(self)
        A = check_array(X, dtype=[np.float32, np.float64])
        if A.shape[1] != self.n_endmembers:
            raise ValueError(
                f"X has {A.shape[1]} features, but AEUnmixer.inverse_transform expects {self.n_endmembers} "
                f"(n_endmembers); pass abundances from transform."
            )
        return (A @ self.endmembers_.astype(A.dtype)).astype(A.dtype, copy=False)

    def reconstruct(self, X, *, abundances=None):
        """Each spectrum as the model sees it: the mixture of its abundances, at its own brightness.

        With ``normalize="l2"`` the mixture ``A @ endmembers_`` of each pixel
        is scaled by the least-squares factor that best matches the pixel;
        with ``normalize=None`` it is the mixture itself.

        Parameters
        ----------
        X : array-like of shape (n_pixels, n_features_in_)
        abundances : array-like of shape (n_pixels, n_endmembers), default=None
            :meth:`transform` of ``X`` when already at hand, so that it is
            not computed again (with ``solver="fcls"`` that is the costly part).

        Returns
        -------
        X_rec : ndarray of shape (n_pixels, n_features_in_)
        """
        check_is_fitted(self)
        refuse_cube(X, type(self).__name__)
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False, ensure_all_finite=False)
        self._check_values(X)
        if abundances is None:
            A = self._abundances(X)
        else:
            A = np.asarray(abundances, dtype=X.dtype)
            if A.shape != (len(X), self.n_endmembers):
                raise ValueError(
                    f"abundances must have shape {(len(X), self.n_endmembers)} (one row per "
                    f"spectrum of X), got {A.shape}; pass transform(X)."
                )
        mixed = A @ self.endmembers_.astype(X.dtype)
        if self.normalize is not None:
            dot = np.einsum("ij,ij->i", mixed, X)
            power = np.einsum("ij,ij->i", mixed, mixed)
            mixed *= np.divide(dot, power, out=np.zeros_like(dot), where=power > 0)[:, None]
        return mixed

    def score(self, X, y=None):
        """Minus the mean spectral angle (radians) between spectra and their reconstructions.

        Higher is better. Scale invariant, so it compares unmixers with
        either ``normalize`` on the same spectra; more endmembers always fit
        at least as well, so it cannot choose ``n_endmembers`` by itself.

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
        X = validate_data(self, X, dtype=[np.float32, np.float64], reset=False, ensure_all_finite=False)
        self._check_values(X)
        total, step = 0.0, self.inference_batch_size
        for start in range(0, X.shape[0], step):
            xb = X[start : start + step]
            total += float(spectral_angles(xb, self.reconstruct(xb)).sum())
        return -total / X.shape[0]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.positive_only = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.non_deterministic = False
        return tags
