"""The recommended pipelines, the segmentation pipeline that hands its segmenter the shade point, and its parts.

:func:`make_segmentation_pipeline` and :func:`make_denoising_pipeline` build
the recipes from :mod:`hsiae.workflow.defaults`; :func:`fit_segmenter` is the
one place that fits a segmenter on codes (with the shade point when it needs
one); :func:`pipeline_parts` is the one check of what a pipeline holds.
"""

from collections import namedtuple

import numpy as np
from sklearn.base import ClusterMixin
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.utils.validation import check_is_fitted

from hsiae.encoder import AEDEncoder
from hsiae.resampling import SpectralResampler
from hsiae.segmentation import SpatialGMMSegmenter
from hsiae.workflow.defaults import DENOISING, SEGMENTATION

__all__ = [
    "make_segmentation_pipeline",
    "make_denoising_pipeline",
    "SegmentationPipeline",
    "shade_point",
    "fit_segmenter",
    "pipeline_parts",
    "PipelineParts",
    "join",
]


def shade_point(head, n_features=None):
    """The features of a black (all-zero) spectrum under a fitted transformer.

    Shading scales a spectrum towards zero, so in feature space it moves a
    pixel towards this point. ``SpatialGMMSegmenter(covariance_type="shaded")``
    lets each cluster spread along the line from it to the cluster's centre.

    Parameters
    ----------
    head : fitted transformer
        For example the resampler and encoder of a fitted pipeline,
        ``pipe[:-1]``.
    n_features : int, default=None
        Bands of the input spectra; by default ``head.n_features_in_``.

    Returns
    -------
    point : ndarray of shape (n_output_features,)
    """
    if n_features is None:
        check_is_fitted(head)
        n_features = head.n_features_in_
    return np.asarray(head.transform(np.zeros((1, n_features), dtype=np.float32)), dtype=np.float64)[0]


def _uses_shade_point(step):
    return isinstance(step, SpatialGMMSegmenter) and step.covariance_type == "shaded"


def fit_segmenter(segmenter, head, codes, y=None, **fit_params):
    """Fit ``segmenter`` on ``codes``, with the shade point of ``head`` when it uses one.

    The one place where a segmenter is fitted on the codes of a fitted
    resampler and encoder: a ``SpatialGMMSegmenter(covariance_type="shaded")``
    is given :func:`shade_point` of ``head`` unless ``fit_params`` has one.

    Parameters
    ----------
    segmenter : SpatialGMMSegmenter
    head : fitted transformer
        The resampler and encoder that made ``codes``.
    codes : ndarray of shape (n_pixels, n_features)
    y : None
        Ignored.
    **fit_params
        Passed to ``segmenter.fit`` (``sample_weight``, ``shade_point``).

    Returns
    -------
    segmenter : SpatialGMMSegmenter
        Fitted.
    """
    if _uses_shade_point(segmenter):
        fit_params.setdefault("shade_point", shade_point(head))
    return segmenter.fit(codes, y, **fit_params)


class SegmentationPipeline(Pipeline):
    """A :class:`~sklearn.pipeline.Pipeline` that gives its segmenter the shade point.

    The same as ``Pipeline(steps)``, except that when the last step is a
    ``SpatialGMMSegmenter(covariance_type="shaded")``, :meth:`fit` and
    :meth:`fit_predict` fit the steps before it and then the segmenter with
    :func:`fit_segmenter`, which passes it :func:`shade_point` of those
    fitted steps: where a black spectrum lands depends on the fitted
    resampler and encoder. :func:`make_segmentation_pipeline` returns one.
    Prediction, slicing, ``set_params``, cloning and persistence are those
    of ``Pipeline``.
    """

    def _fit_shaded(self, X, y, params):
        name, seg = self.steps[-1]
        prefix = f"{name}__"
        seg_params = {k[len(prefix) :]: v for k, v in params.items() if k.startswith(prefix)}
        head_params = {k: v for k, v in params.items() if not k.startswith(prefix)}
        head = self[:-1]
        fit_segmenter(seg, head, head.fit_transform(X, y, **head_params), y, **seg_params)
        return seg

    def fit(self, X, y=None, **params):
        """Fit the steps as :meth:`Pipeline.fit <sklearn.pipeline.Pipeline.fit>`, with the shade point."""
        if not _uses_shade_point(self.steps[-1][1]):
            return super().fit(X, y, **params)
        self._fit_shaded(X, y, params)
        return self

    def fit_predict(self, X, y=None, **params):
        """Fit and label as :meth:`sklearn.pipeline.Pipeline.fit_predict`, with the shade point."""
        if not _uses_shade_point(self.steps[-1][1]):
            return super().fit_predict(X, y, **params)
        return self._fit_shaded(X, y, params).labels_


class PipelineParts(namedtuple("PipelineParts", ["head", "segmenter"])):
    """The steps of a pipeline: ``head`` (resampler and encoder, a Pipeline) and its segmenter or None.

    ``resampler`` and ``encoder`` name the head's first and last steps
    (``resampler`` is None when the head is the encoder alone).
    """

    __slots__ = ()

    @property
    def resampler(self):
        """The head's resampler (its first step), or None when the head is the encoder alone."""
        return self.head.steps[0][1] if len(self.head.steps) > 1 else None

    @property
    def encoder(self):
        """The head's encoder (its last step)."""
        return self.head.steps[-1][1]


def pipeline_parts(pipe, *, segmenter="optional", n_bands=None, fitted=True):
    """Split a pipeline into its resampler-and-encoder head and its final segmenter.

    The one check of what a pipeline holds, for every function that takes
    one: a :class:`~sklearn.pipeline.Pipeline` whose last step is a
    segmenter (a clusterer such as :class:`~hsiae.SpatialGMMSegmenter`) or
    a transformer.

    Parameters
    ----------
    pipe : Pipeline
    segmenter : {"optional", "required"}, default="optional"
        "required" refuses a pipeline that does not end in a segmenter.
    n_bands : int or None, default=None
        When given, the pipeline must have been fitted on spectra of that
        many bands.
    fitted : bool, default=True
        Check that every step the caller uses is fitted (the head, and the
        segmenter when required).

    Returns
    -------
    parts : PipelineParts
        ``(head, segmenter)``; ``segmenter`` is None when the pipeline does
        not end in one. ``head`` shares its steps with ``pipe``.

    Raises
    ------
    TypeError
        If ``pipe`` is not a Pipeline, or lacks a required segmenter.
    ValueError
        If it was fitted on another band count.
    """
    if not isinstance(pipe, Pipeline):
        raise TypeError(
            f"Expected a fitted sklearn Pipeline, got {type(pipe).__name__}; build one with "
            f"hsiae.make_segmentation_pipeline (and fit it) or load one with hsiae.load_model."
        )
    last = pipe.steps[-1][1]
    has_segmenter = isinstance(last, ClusterMixin)
    if segmenter == "required" and not has_segmenter:
        raise TypeError(
            f"Expected a Pipeline ending in a SpatialGMMSegmenter, but its last step is "
            f"{type(last).__name__}; build one with hsiae.make_segmentation_pipeline."
        )
    head = pipe[:-1] if has_segmenter else pipe
    if fitted:
        for _, step in (pipe if segmenter == "required" else head).steps:
            check_is_fitted(step)
    if n_bands is not None:
        n_in = getattr(pipe.steps[0][1], "n_features_in_", None)
        if n_in is not None and n_in != n_bands:
            raise ValueError(
                f"The pipeline was fitted on spectra of {n_in} bands but the cube has {n_bands}; "
                f"apply it to a cube of the same sensor and band set."
            )
    return PipelineParts(head, last if has_segmenter else None)


def join(head, segmenter):
    """A :class:`SegmentationPipeline` of ``head``'s steps followed by ``segmenter``."""
    return SegmentationPipeline([*head.steps, ("spatialgmmsegmenter", segmenter)])


def make_segmentation_pipeline(n_clusters, image_shape=None, random_state=None, **params):
    """The recommended resampler + encoder + segmenter pipeline for segment maps.

    Spectra are resampled to 256 bands and standardised per band, encoded
    into 8 latent dimensions, and clustered by a mixture with one shared
    covariance plus, per cluster, an extra variance along the line from the
    codes of a black spectrum to the cluster's centre
    (``covariance_type="shaded"``: brightness that varies within a material
    does not split it), and equal mixing weights (so that a large cluster does not
    take the mixed pixels at its border with a small one); the spatial
    prior (``spatial_weight=0.5``) smooths the labels but does not take part
    in fitting the mixture (``spatial_fit=False``). One configuration for
    every scene: it reads no labels and is not tuned per scene (the
    project's ``benchmarks/quality.py`` scores it on scenes with ground
    truth). For denoising use :func:`make_denoising_pipeline`: per-band
    standardisation weighs noisy low-signal bands as much as bright ones,
    which helps to tell materials apart but costs reconstruction accuracy.

    Parameters
    ----------
    n_clusters : int
        Number of segments.
    image_shape : tuple (H, W) or None, default=None
        Shape of the image whose pixels are the rows of ``X`` (row-major).
        ``None`` segments without the spatial prior.
    random_state : int, RandomState instance or None, default=None
        Seeds the encoder and the segmenter.
    **params
        Overrides in ``set_params`` form, e.g. ``aedencoder__zdims=16``.

    Returns
    -------
    pipeline : SegmentationPipeline
        Steps ``spectralresampler``, ``aedencoder``, ``spatialgmmsegmenter``;
        a :class:`~sklearn.pipeline.Pipeline` whose ``fit`` hands the
        segmenter the codes of a black spectrum (:func:`shade_point`).

    Examples
    --------
    >>> from hsiae import make_segmentation_pipeline
    >>> pipe = make_segmentation_pipeline(6, image_shape=(83, 86), random_state=0)
    >>> [name for name, _ in pipe.steps]
    ['spectralresampler', 'aedencoder', 'spatialgmmsegmenter']
    """
    pipe = SegmentationPipeline(
        make_pipeline(
            SpectralResampler(n_bands=SEGMENTATION["bands"], scaling="standard"),
            AEDEncoder(zdims=SEGMENTATION["zdims"], random_state=random_state),
            SpatialGMMSegmenter(
                n_clusters,
                image_shape=image_shape,
                covariance_type="shaded",
                equal_weights=True,
                spatial_weight=SEGMENTATION["spatial_weight"],
                spatial_fit=False,
                random_state=random_state,
            ),
        ).steps
    )
    return pipe.set_params(**params) if params else pipe


def make_denoising_pipeline(random_state=None, **params):
    """The recommended resampler + encoder pipeline for denoising.

    Spectra keep their own bands (no interpolation, which would colour the
    noise) and are scaled by the data's range (one offset and one divisor
    for all bands, so every band's error counts as in the PSNR), encoded
    into 16 latent dimensions and decoded with Wiener shrinkage
    (``shrinkage="wiener"``): each code's principal-axis part is weighed by
    ``(var - noise) / var``, with the noise variance estimated from the
    axes beyond the 16 kept. The loss is the mean squared error alone
    (``sam_weight=0, gradient_weight=0``): the spectral-angle and gradient
    terms help segmentation but pull the reconstruction away from the
    least-squares optimum. Apply it with :func:`denoise` (or
    ``hsiae train --for denoising`` and ``hsiae denoise``).
    The shrinkage is what sets it above the same-rank PCA projection; the
    network adds little to the linear path for denoising.

    Parameters
    ----------
    random_state : int, RandomState instance or None, default=None
        Seeds the encoder.
    **params
        Overrides in ``set_params`` form, e.g. ``aedencoder__max_epochs=100``.

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
        Steps ``spectralresampler``, ``aedencoder``.

    Examples
    --------
    >>> import numpy as np
    >>> from hsiae import denoise, make_denoising_pipeline
    >>> X = np.random.default_rng(0).random((500, 40)).astype(np.float32)
    >>> pipe = make_denoising_pipeline(random_state=0, aedencoder__max_epochs=2).fit(X)
    >>> denoise(pipe, X).shape
    (500, 40)
    """
    pipe = make_pipeline(
        SpectralResampler(n_bands=DENOISING["bands"], upsample=False, scaling="range"),
        AEDEncoder(
            zdims=DENOISING["zdims"],
            sam_weight=0.0,
            gradient_weight=0.0,
            shrinkage="wiener",
            random_state=random_state,
        ),
    )
    return pipe.set_params(**params) if params else pipe
