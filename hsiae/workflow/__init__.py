"""The workflow layer: recipes, the usable-pixel rule, fitting on an image or a sample, block-wise application.

This package's ``__init__`` imports nothing, so that :mod:`hsiae.workflow.defaults`
(plain data, read by the command line's parser) loads without the estimators.
"""
