"""The autograd graph behind a tensor, as Graphviz DOT (and SVG/PNG when ``dot`` exists)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any


def _shape(shape: Any) -> str:
    return "(" + ", ".join(str(int(d)) for d in shape) + ")"


def _dtype(dt: Any) -> str:
    return str(getattr(dt, "name", dt))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def draw_graph(tensor: Any, path: Any = None, params: Any = None, show_dtype: bool = False) -> str:
    """The backward graph of ``tensor`` as Graphviz DOT text (DeZero's ``plot_dot_graph``).

    Walks ``tensor.grad_fn`` and each node's ``next_functions``. Ops are boxes named as
    ``node.name()`` (``MulBackward``...) with their output shapes; leaves (``AccumulateGrad``)
    are blue and show the variable's shape, and its name when ``params`` maps names to
    tensors (``dict(model.named_parameters())``); the tensor itself is the green box. Edges
    run forward (input -> op) and carry the input's shape.

    ``path``: ``graph.dot`` writes the DOT text; ``graph.png`` / ``graph.svg`` writes the
    ``.dot`` beside it and renders the picture when the ``dot`` program is installed.
    """
    names = {id(v): k for k, v in (dict(params).items() if params else ())}
    lines = [
        "digraph autograd {",
        '  graph [rankdir=TB, fontname="Helvetica", label="autograd graph (arrows: forward direction)", labelloc=t];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, fillcolor=lightgray];',
        '  edge [fontname="Helvetica", fontsize=8];',
    ]
    root = getattr(tensor, "grad_fn", None)
    out_label = f"output\n{_shape(tensor.shape)}"
    if show_dtype:
        out_label += f"\n{_dtype(tensor.dtype)}"
    lines.append(f"  out [label={_quote(out_label)}, fillcolor=darkolivegreen1];")
    if root is None:
        if getattr(tensor, "requires_grad", False):
            lines.append('  out [fillcolor=lightblue, xlabel="leaf"];')
        lines.append("}")
        return _write("\n".join(lines) + "\n", path)
    ids: dict[int, str] = {}
    stack = [root]

    def node_id(node: Any) -> str:
        if id(node) not in ids:
            ids[id(node)] = f"n{len(ids)}"
            stack.append(node)
        return ids[id(node)]

    node_id(root)
    stack.pop()
    lines.append(f"  {ids[id(root)]} -> out [label={_quote(_shape(tensor.shape))}];")
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        nid = ids[id(node)]
        name = node.name()
        variable = getattr(node, "variable", None)
        if variable is not None:
            label = names.get(id(variable), "leaf")
            label = f"{label}\n{_shape(variable.shape)}"
            if show_dtype:
                label += f"\n{_dtype(variable.dtype)}"
            lines.append(f"  {nid} [label={_quote(label)}, fillcolor=lightblue, tooltip={_quote(name)}];")
            continue
        metas = getattr(node, "_output_meta", ()) or ()
        outs = ", ".join(_shape(s) for s, _ in metas)
        label = f"{name}\n-> {outs}" if outs else name
        if show_dtype and metas:
            label += f"\n{_dtype(metas[0][1])}"
        lines.append(f"  {nid} [label={_quote(label)}];")
        nexts = getattr(node, "next_functions", ()) or ()
        metas_in = getattr(node, "input_meta", ()) or ()
        for i, (nxt, _nr) in enumerate(nexts):
            if nxt is None:
                continue
            edge = _shape(metas_in[i][0]) if i < len(metas_in) else ""
            lines.append(f"  {node_id(nxt)} -> {nid} [label={_quote(edge)}];")
    lines.append("}")
    return _write("\n".join(lines) + "\n", path)


def _write(text: str, path: Any) -> str:
    if path is None:
        return text
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dot_path = path if path.suffix == ".dot" else path.with_suffix(".dot")
    dot_path.write_text(text)
    exe = shutil.which("dot")
    if path.suffix in (".png", ".svg", ".pdf") and exe:
        subprocess.run([exe, f"-T{path.suffix[1:]}", str(dot_path), "-o", str(path)], check=True,
                       capture_output=True)  # fmt: skip
    return text
