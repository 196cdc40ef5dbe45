"""``hsiae train``: train a resampler and encoder on a cube's spectra and save the model."""

from hsiae.cli._inputs import chunked, open_lazy, pixels, read, sample, scheduler
from hsiae.cli._models import fit_head, training_needs, training_pipeline
from hsiae.cli._outputs import plan_model_outputs, write_model_outputs


def run(args, out):
    from hsiae.workflow.usable import usable_rows

    lazy = chunked(args)
    paths = plan_model_outputs(out, args.output, figures=not args.no_figures)
    needs = training_needs("train", args)
    if lazy:
        cube, info, mask = open_lazy(args, "training on", needs)
        with scheduler(args.scheduler):
            X, _ = sample(args, cube, info.nodata, mask)
    else:
        cube, info, mask = read(args, "training on", needs)
        X, valid, _ = pixels(cube, info.nodata, mask)
        # X is a copy whenever the file's layout is not pixel-major (a page per band): drop the
        # cube, or both stay in memory through training.
        del cube
        X = usable_rows(X, valid)
    head = fit_head(training_pipeline(args, info.wavelengths), X)
    write_model_outputs(out, paths, head, info.wavelengths)
