"""matrix_to_cube: a (bands, pixels) matrix, as MATLAB scene files store it, back into an image cube."""

import numpy as np

_ORDERS = {"F": "column-major (MATLAB)", "C": "row-major (NumPy)"}


def matrix_to_cube(Y, image_shape, pixel_index=None, *, order="F", index_base=1, fill_value=np.nan):
    """Turn a ``(n_bands, n_pixels)`` matrix into a cube of shape ``(n_rows, n_cols, n_bands)``.

    Many published scenes (Samson, Jasper Ridge, Urban, ...) are MATLAB files
    holding the spectra as the columns of a matrix, the pixels numbered
    down the image's columns first (MATLAB's column-major order), sometimes
    only the labelled or valid pixels with their linear indices beside them.
    This puts every spectrum back at its place in the image; pixels that no
    column gives are filled with ``fill_value`` (no data).

    Parameters
    ----------
    Y : array-like of shape (n_bands, n_pixels)
        One spectrum per column.
    image_shape : tuple (n_rows, n_cols)
        The image the pixels belong to.
    pixel_index : array-like of int of shape (n_pixels,), default=None
        The linear index of each column's pixel in the image, counted in
        ``order`` from ``index_base``. None: the columns are every pixel of
        the image, in ``order`` (``n_pixels == n_rows * n_cols``).
    order : {"F", "C"}, default="F"
        How linear indices run over the image: "F" down the columns first,
        as MATLAB numbers pixels (``Y(:, k)`` of a ``reshape(cube, [], bands)'``),
        "C" along the rows first, as NumPy's ``reshape`` does.
    index_base : {1, 0}, default=1
        The index of the first pixel: 1 as in MATLAB, 0 as in Python.
    fill_value : float, default=np.nan
        The value of pixels no column gives. With NaN, an integer matrix
        that leaves pixels out becomes floats (float32 for 8- and 16-bit
        integers, float64 beyond); any other value must fit the matrix's
        dtype, which is then kept.

    Returns
    -------
    cube : ndarray of shape (n_rows, n_cols, n_bands)
        ``cube[r, c]`` is the spectrum of the pixel at row ``r``, column ``c``
        (from 0).

    Raises
    ------
    ValueError
        If ``Y`` is not 2-D, its number of columns does not match the image
        or ``pixel_index``, an index is out of the image, not an integer or
        given twice, or ``fill_value`` does not fit an integer matrix.

    See Also
    --------
    read_cube : Read a cube stored as an image, from ``.mat`` files too.
    write_cube : Write the cube as a TIFF or ENVI file.

    Examples
    --------
    Two bands of three pixels of a 2 x 2 image, numbered as MATLAB does
    (1 and 2 down the first column, 3 and 4 down the second); pixel 3 has no
    spectrum:

    >>> import numpy as np
    >>> from hsiae.io import matrix_to_cube
    >>> Y = np.array([[1.0, 2.0, 4.0], [10.0, 20.0, 40.0]])
    >>> cube = matrix_to_cube(Y, (2, 2), pixel_index=[1, 2, 4])
    >>> cube[:, :, 0]
    array([[ 1., nan],
           [ 2.,  4.]])
    >>> cube[1, 1]
    array([ 4., 40.])

    A whole image, as ``Y = reshape(cube, [], bands)'`` in MATLAB stores it:

    >>> matrix_to_cube(np.arange(12).reshape(2, 6), (2, 3))[:, :, 0]
    array([[0, 2, 4],
           [1, 3, 5]])
    """
    Y = np.asarray(Y)
    try:
        n_rows, n_cols = (int(n) for n in image_shape)
    except (TypeError, ValueError):
        raise ValueError(f"image_shape must be (n_rows, n_cols), got {image_shape!r}") from None
    if n_rows < 1 or n_cols < 1:
        raise ValueError(f"image_shape must be two positive sizes (n_rows, n_cols), got {image_shape!r}")
    if order not in _ORDERS:
        raise ValueError(f"order must be 'F' (column-major, MATLAB) or 'C' (row-major, NumPy), got {order!r}")
    if index_base not in (0, 1):
        raise ValueError(f"index_base must be 1 (MATLAB) or 0 (Python), got {index_base!r}")
    if Y.ndim != 2 or Y.dtype.kind not in "uif" or Y.size == 0:
        raise ValueError(
            f"Expected a non-empty numeric matrix of shape (n_bands, n_pixels) but got {Y.dtype} data of shape "
            f"{Y.shape}; pass the spectra as the columns of a 2-D array"
        )
    n_bands, n_pixels = Y.shape
    n_image = n_rows * n_cols
    if pixel_index is None:
        if n_pixels != n_image:
            hint = "; pass Y.T if the spectra are its rows" if n_bands == n_image else ""
            raise ValueError(
                f"Expected one column per pixel of the {n_rows} x {n_cols} image ({n_image}) but Y has shape "
                f"{Y.shape}; pass pixel_index for a matrix of some of the pixels{hint}"
            )
        flat = np.arange(n_image)
    else:
        flat = _checked_index(pixel_index, n_pixels, n_image, index_base, Y.shape)
    rows, cols = np.unravel_index(flat, (n_rows, n_cols), order=order)

    dtype = Y.dtype
    if fill_value is None:
        fill_value = np.nan
    if flat.size == n_image:  # every pixel given: nothing to fill
        cube = np.empty((n_rows, n_cols, n_bands), dtype=dtype)
        cube[rows, cols] = Y.T
        return cube
    if dtype.kind == "f":
        pass
    elif np.isnan(fill_value):
        dtype = np.result_type(dtype, np.float32)
    elif not float(fill_value).is_integer() or not _fits(fill_value, dtype):
        raise ValueError(
            f"fill_value={fill_value!r} does not fit the matrix's {dtype} values; pass a value within "
            f"[{np.iinfo(dtype).min}, {np.iinfo(dtype).max}], or fill_value=np.nan for a float cube"
        )
    cube = np.full((n_rows, n_cols, n_bands), fill_value, dtype=dtype)
    cube[rows, cols] = Y.T
    return cube


def _fits(value, dtype):
    limits = np.iinfo(dtype)
    return limits.min <= value <= limits.max


def _checked_index(pixel_index, n_pixels, n_image, index_base, shape):
    """``pixel_index`` as 0-based linear indices, checked: integers, one per column, inside the image, once each."""
    index = np.asarray(pixel_index).ravel()
    if index.dtype.kind == "f" and np.all(np.isfinite(index)) and np.all(index == np.round(index)):
        index = index.astype(np.int64)  # MATLAB stores indices as doubles
    if index.dtype.kind not in "iu":
        raise ValueError(f"pixel_index must hold whole numbers (linear pixel indices), got {index.dtype} values")
    if index.size != n_pixels:
        raise ValueError(
            f"Expected one pixel index per column of Y ({n_pixels}) but got {index.size}; pass the index of "
            f"each column's pixel (Y has shape {shape})"
        )
    flat = index.astype(np.int64) - index_base
    outside = (flat < 0) | (flat >= n_image)
    if outside.any():
        raise ValueError(
            f"pixel_index must lie in [{index_base}, {n_image - 1 + index_base}] for an image of {n_image} pixels "
            f"counted from {index_base}, but {int(outside.sum())} do not (e.g. {int(index[outside][0])}); check "
            f"image_shape and index_base (1 for MATLAB indices, 0 for Python's)"
        )
    unique, counts = np.unique(flat, return_counts=True)
    if unique.size < flat.size:
        raise ValueError(
            f"pixel_index gives {flat.size - unique.size} pixels more than once (e.g. "
            f"{int(unique[counts > 1][0]) + index_base}); each column of Y must be a different pixel"
        )
    return flat
