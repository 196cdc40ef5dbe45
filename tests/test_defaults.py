"""hsiae.workflow.defaults: the recommended settings as data agree with the estimators and recipes."""

import inspect

import pytest

from hsiae import AEDEncoder, make_denoising_pipeline, make_segmentation_pipeline
from hsiae.workflow import defaults


@pytest.mark.parametrize(
    "recipe, make",
    [
        ("segmentation", lambda: make_segmentation_pipeline(2)),
        ("denoising", make_denoising_pipeline),
    ],
)
def test_the_defaults_are_what_the_recipes_build(recipe, make):
    params = make().get_params()
    d = defaults.recipe_defaults(recipe)
    assert params["spectralresampler__n_bands"] == d["bands"]
    assert params["aedencoder__zdims"] == d["zdims"]
    for option, name in [
        ("epochs", "max_epochs"),
        ("batch_size", "batch_size"),
        ("lr", "lr"),
        ("validation_fraction", "validation_fraction"),
        ("architecture", "architecture"),
    ]:
        assert params[f"aedencoder__{name}"] == d[option], option
    if recipe == "segmentation":
        assert params["spatialgmmsegmenter__spatial_weight"] == d["spatial_weight"]


def test_the_training_defaults_are_the_encoders():
    signature = inspect.signature(AEDEncoder).parameters
    names = {
        "epochs": "max_epochs",
        "batch_size": "batch_size",
        "lr": "lr",
        "validation_fraction": "validation_fraction",
        "architecture": "architecture",
    }
    assert {option: signature[name].default for option, name in names.items()} == defaults.TRAINING


def test_the_unmixing_defaults_are_the_unmixers():
    from hsiae import AEUnmixer, unmix_cube

    signature = inspect.signature(AEUnmixer).parameters
    names = {"epochs": "max_epochs", "batch_size": "batch_size", "lr": "lr", "solver": "solver"}
    assert {option: signature[name].default for option, name in names.items()} == defaults.UNMIXING
    assert inspect.signature(unmix_cube).parameters["n_samples"].default == defaults.SAMPLE_SIZE
