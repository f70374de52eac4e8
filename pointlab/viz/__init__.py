"""Pictures: segmented-cloud renders (:mod:`.render`), class palettes (:mod:`.palette`) and
training curves (:mod:`.curves`). matplotlib is imported only when a picture is drawn."""
from pointlab.viz.palette import colorize, generic_palette, palette_for

__all__ = ["colorize", "generic_palette", "palette_for", "render_segmentation", "render_instances", "plot_training_curves"]


def __getattr__(name):
    if name in ("render_segmentation", "render_instances"):
        from pointlab.viz import render

        return getattr(render, name)
    if name == "plot_training_curves":
        from pointlab.viz import curves

        return curves.plot_training_curves
    raise AttributeError(f"module 'pointlab.viz' has no attribute '{name}'")
