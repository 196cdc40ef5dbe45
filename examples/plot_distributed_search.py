"""
Model selection on a dask cluster, and segmenting a cube chunk by chunk
=======================================================================

Two ways hsiae goes beyond one process, both through Dask:

1. ``GridSearchCV`` over ``zdims`` and ``n_clusters`` with joblib's dask
   backend: every candidate is fitted on a worker of a dask.distributed
   cluster, and the result is the same as the local run. Here the cluster is
   a ``LocalCluster`` of two worker processes on this machine; on a real
   cluster only the line that makes the ``Client`` changes (see the user
   guide's "Large cubes with Dask and on a cluster": dask-jobqueue on
   SLURM/PBS, the Dask Kubernetes operator).
2. The chosen pipeline applied to a cube on disk chunk by chunk: the cube is
   opened lazily, the labels are computed on the cluster with a halo of
   ``spatial_iter`` pixels around each chunk and streamed to a TIFF; they
   equal the whole-image ``predict``.

It needs ``pip install 'hsiae[dask]'`` and runs in a few minutes on two
cores. Set ``HSIAE_EXAMPLE_OUTPUT`` to a folder to save the figure;
``HSIAE_EXAMPLE_SMALL=1`` (set by the documentation's build) trains for 4
epochs instead of 10 and searches 4 candidates instead of 6.
"""

# %%
# A small scene and the grid
# --------------------------
import os
import tempfile
import warnings

import matplotlib.pyplot as plt
import numpy as np
from distributed import Client, LocalCluster
from joblib import parallel_backend
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV

from hsiae import (
    WholeImageSplit,
    make_segmentation_pipeline,
    make_synthetic_scene,
    open_cube,
    predict_blocks,
    silhouette_scorer,
    store_labels,
    write_cube,
)
from hsiae.plotting import plot_segment_map

warnings.simplefilter("ignore", ConvergenceWarning)  # few epochs, to keep the example short
SMALL = os.environ.get("HSIAE_EXAMPLE_SMALL") == "1"

scene = make_synthetic_scene(n_bands=64, shape=(48, 48), n_segments=4, noise=0.02, random_state=0)
H, W, n_bands = scene.cube.shape
X = scene.cube.reshape(-1, n_bands)
pipe = make_segmentation_pipeline(
    4, image_shape=(H, W), random_state=0, spectralresampler__n_bands=64, aedencoder__max_epochs=4 if SMALL else 10
)
grid = {"aedencoder__zdims": [4, 8], "spatialgmmsegmenter__n_clusters": [3, 4] if SMALL else [3, 4, 5]}


def search():
    # WholeImageSplit: the spatial prior needs every pixel, so each "fold" is the whole image
    return GridSearchCV(pipe, grid, cv=WholeImageSplit(), scoring=silhouette_scorer, n_jobs=-1).fit(X)


# %%
# The local run, then the same search on a dask cluster
# -----------------------------------------------------
# Worker processes (``processes=True``), one thread each: every fit seeds
# torch's global random generator, which threads of one process share.
# Worker processes start by importing this file, hence the ``__main__`` guard.
if __name__ == "__main__":
    with parallel_backend("sequential"):
        local = search()

    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        print(f"cluster: {len(client.scheduler_info()['workers'])} workers at {client.scheduler.address}")
        with parallel_backend("dask"):
            remote = search()

        print("best on the cluster:", remote.best_params_, "locally:", local.best_params_)
        same = np.array_equal(remote.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"])
        print("same scores for every candidate:", same)

        # %%
        # Segment a cube on disk chunk by chunk
        # -------------------------------------
        # The cube is written to a TIFF and opened lazily in chunks of 16 x 16
        # pixels; the cluster computes the labels, and store_labels writes each
        # chunk as soon as it is ready.
        import tifffile

        best = remote.best_estimator_
        with tempfile.TemporaryDirectory(prefix="hsiae-example-") as folder:
            write_cube(os.path.join(folder, "scene.tif"), scene.cube, wavelengths=scene.wavelengths)
            cube, info = open_cube(os.path.join(folder, "scene.tif"), chunks=16)
            labels_path = os.path.join(folder, "labels.tif")
            store_labels(labels_path, predict_blocks(best, cube, nodata=info.nodata))
            chunked = tifffile.imread(labels_path).astype(int) - 1  # the file stores cluster + 1

    whole = best.predict(X).reshape(H, W)
    print("chunked labels equal the whole-image predict:", np.array_equal(chunked, whole))

    # %%
    # The scores and the segments
    # ---------------------------
    scores = remote.cv_results_["mean_test_score"].reshape(len(grid["aedencoder__zdims"]), -1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for zdims, row in zip(grid["aedencoder__zdims"], scores):
        left.plot(grid["spatialgmmsegmenter__n_clusters"], row, "o-", label=f"zdims={zdims}")
    left.set_xlabel("n_clusters")
    left.set_ylabel("silhouette (higher is better)")
    left.set_xticks(grid["spatialgmmsegmenter__n_clusters"])
    left.legend()
    left.set_title("Grid search on a 2-worker dask cluster")
    plot_segment_map(chunked, ax=right)
    right.set_title(f"Best pipeline, labels computed in 16 x 16 chunks\n{remote.best_params_}")

    out = os.environ.get("HSIAE_EXAMPLE_OUTPUT")
    if out:
        os.makedirs(out, exist_ok=True)
        fig.savefig(os.path.join(out, "plot_distributed_search.png"), dpi=110)
