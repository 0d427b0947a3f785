"""Seeing inside a network, and plotting how it did (matplotlib; Agg canvas, no display needed).

    from minidl import vis
    vis.filters(model.conv1, "filters.png")                 # first-layer filters as RGB
    vis.filters(model.conv1, "rgb.png", mode="channels")     # red, green, blue alone
    img = vis.demo_image("chelsea", 64)                      # a photo from scikit-image
    vis.activations(model, "features.0", img, "acts.png")    # feature maps, via a forward hook
    vis.gradient_ascent_grid(model, "features.3", range(8), "ascent.png")
    heat = vis.grad_cam(model, "features.3", img)            # (H, W) in [0, 1]
    vis.overlay(img, heat, "cam.png")
    vis.curves(history, "curves.png"); vis.confusion_matrix_plot((y, pred), names, path="cm.png")
    vis.roc_plot(y, scores, "roc.png"); vis.image_grid(images, y, pred, names, path="grid.png")
    dot_text = vis.draw_graph(loss, "graph.dot")              # the autograd graph, Graphviz DOT

Every plotting function returns its matplotlib Figure and saves it (PNG) when given ``path``.
"""

from minidl.vis._common import demo_image
from minidl.vis.ascent import AscentResult, gradient_ascent, gradient_ascent_grid
from minidl.vis.cam import grad_cam, overlay, saliency
from minidl.vis.filters import activations, filters
from minidl.vis.graph import draw_graph
from minidl.vis.plots import confusion_matrix_plot, curves, image_grid, roc_plot

__all__ = [
    "AscentResult",
    "activations",
    "confusion_matrix_plot",
    "curves",
    "demo_image",
    "draw_graph",
    "filters",
    "grad_cam",
    "gradient_ascent",
    "gradient_ascent_grid",
    "image_grid",
    "overlay",
    "roc_plot",
    "saliency",
]
