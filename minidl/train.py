"""The training loop a course needs: ``fit``, ``evaluate``, ``History``, callbacks, ``summary``.

    history = fit(model, nn.CrossEntropyLoss(), optimizer, train_loader, epochs=15,
                  val_loader=val_loader, scheduler=StepLR(optimizer, 5),
                  callbacks=[EarlyStopping(patience=3)])
    history.plot("curves.png")

``fit`` shows a tqdm bar per epoch with the running loss and accuracy (quiet when the
output is not a terminal), steps the scheduler (per batch for OneCycleLR, with the
validation loss for ReduceLROnPlateau, per epoch otherwise) and stops with a clear error
when the loss becomes NaN or infinite.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from minidl.autograd import grad_mode
from minidl.nn.modules.module import Module
from minidl.tensor import Tensor

__all__ = [
    "Callback", "Checkpoint", "EarlyStopping", "History", "TrainingDiverged", "evaluate", "fit", "summary",
]  # fmt: skip


class TrainingDiverged(FloatingPointError):
    """The loss became NaN or infinite; ``.history`` holds the epochs completed so far."""

    def __init__(self, message: str, history: History) -> None:
        super().__init__(message)
        self.history = history


# ---------------------------------------------------------------------------- history
class History:
    """Per-epoch records: ``history["loss"]``, ``["val_loss"]``, ``["accuracy"]``, ``["lr"]``..."""

    def __init__(self) -> None:
        self.epochs: list[int] = []
        self.history: dict[str, list[float]] = {}
        self.stop_reason = "completed"

    def append(self, epoch: int, logs: dict[str, float]) -> None:
        self.epochs.append(epoch)
        for k, v in logs.items():
            self.history.setdefault(k, [math.nan] * (len(self.epochs) - 1)).append(float(v))
        for values in self.history.values():  # keys missing this epoch
            if len(values) < len(self.epochs):
                values.append(math.nan)

    def __getitem__(self, key: str) -> list[float]:
        return self.history[key]

    def __contains__(self, key: str) -> bool:
        return key in self.history

    def keys(self) -> Iterable[str]:
        return self.history.keys()

    def best_epoch(self, monitor: str = "val_loss", mode: str = "auto") -> int:
        """The epoch (1-based) with the best value of ``monitor``."""
        values = np.asarray(self.history[monitor])
        maximise = _maximise(monitor, mode)
        idx = int(np.nanargmax(values) if maximise else np.nanargmin(values))
        return self.epochs[idx]

    def __repr__(self) -> str:
        last = {k: round(v[-1], 4) for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epochs)}, last={last}, stop_reason={self.stop_reason!r})"

    def plot(self, path: Any = None, title: str | None = None) -> Any:
        """Loss (left) and metrics (right) per epoch, train and validation; saved to ``path`` as PNG."""
        import matplotlib

        if path is not None:
            matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        metric_names = [k for k in self.history if not k.startswith("val_") and k not in ("loss", "lr")]
        ncols = 2 if metric_names else 1
        fig, axes = plt.subplots(1, ncols, figsize=(5.5 * ncols, 4), squeeze=False)
        ax = axes[0, 0]
        for key, style in (("loss", "-o"), ("val_loss", "--s")):
            if key in self.history:
                ax.plot(self.epochs, self.history[key], style, label="train" if key == "loss" else "validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel("loss")
        ax.set_title("Loss")
        ax.grid(alpha=0.3)
        ax.legend()
        if metric_names:
            ax = axes[0, 1]
            for name in metric_names:
                ax.plot(self.epochs, self.history[name], "-o", label=f"train {name}")
                if f"val_{name}" in self.history:
                    ax.plot(self.epochs, self.history[f"val_{name}"], "--s", label=f"validation {name}")
            ax.set_xlabel("epoch")
            ax.set_title(", ".join(metric_names).capitalize())
            ax.grid(alpha=0.3)
            ax.legend()
        if title:
            fig.suptitle(title)
        fig.tight_layout()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig


def _maximise(monitor: str, mode: str) -> bool:
    if mode == "max":
        return True
    if mode == "min":
        return False
    if mode != "auto":
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    return "loss" not in monitor


# ---------------------------------------------------------------------------- callbacks
class Callback:
    """Hooks into ``fit``: override what you need; set ``trainer.stop = True`` to stop."""

    def on_train_begin(self, trainer: Trainer) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict[str, float], trainer: Trainer) -> None:
        pass

    def on_train_end(self, trainer: Trainer) -> None:
        pass


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved for ``patience`` epochs; keep the best epoch.

    With ``restore_best=True`` the model gets the state dict of the best epoch back at the
    end (the coursework's "early stopping keeps the best validation epoch").
    """

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 mode: str = "auto", restore_best: bool = True) -> None:  # fmt: skip
        self.monitor, self.patience, self.min_delta = monitor, patience, min_delta
        self.mode, self.restore_best = mode, restore_best
        self.best: float | None = None
        self.best_epoch = 0
        self.best_state: dict[str, Any] | None = None
        self.wait = 0

    def on_train_begin(self, trainer: Trainer) -> None:
        self.best, self.best_epoch, self.best_state, self.wait = None, 0, None, 0

    def on_epoch_end(self, epoch: int, logs: dict[str, float], trainer: Trainer) -> None:
        if self.monitor not in logs:
            raise KeyError(f"EarlyStopping: '{self.monitor}' is not logged (logged: {sorted(logs)}); "
                           "pass val_loader to fit or choose another monitor")  # fmt: skip
        value = logs[self.monitor]
        maximise = _maximise(self.monitor, self.mode)
        improved = self.best is None or (
            value > self.best + self.min_delta if maximise else value < self.best - self.min_delta
        )
        if improved:
            self.best, self.best_epoch, self.wait = value, epoch, 0
            if self.restore_best:
                self.best_state = _copy_state(trainer.model)
        else:
            self.wait += 1
            if self.wait >= self.patience:
                trainer.stop = True
                trainer.history.stop_reason = (
                    f"early stopping: {self.monitor} did not improve for {self.patience} epochs "
                    f"(best {self.best:.4g} at epoch {self.best_epoch})"
                )

    def on_train_end(self, trainer: Trainer) -> None:
        if self.restore_best and self.best_state is not None:
            trainer.model.load_state_dict(self.best_state)


class Checkpoint(Callback):
    """Save the model's state dict to ``path`` (``.npz``) after each epoch, or when ``monitor`` improves."""

    def __init__(self, path: Any, monitor: str = "val_loss", save_best_only: bool = True, mode: str = "auto") -> None:
        self.path, self.monitor, self.save_best_only, self.mode = path, monitor, save_best_only, mode
        self.best: float | None = None

    def on_epoch_end(self, epoch: int, logs: dict[str, float], trainer: Trainer) -> None:
        from minidl.serialization import save

        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                raise KeyError(f"Checkpoint: '{self.monitor}' is not logged (logged: {sorted(logs)})")
            maximise = _maximise(self.monitor, self.mode)
            better = self.best is None or (value > self.best if maximise else value < self.best)
            if not better:
                return
            self.best = value
        save(trainer.model.state_dict(), self.path)


def _copy_state(model: Module) -> dict[str, Any]:
    return {k: v._data.copy() for k, v in model.state_dict().items()}


# ---------------------------------------------------------------------------- metrics
def _binary_threshold(loss_fn: Any) -> float | None:
    """Binary tasks: logits are positive above 0 (BCEWithLogits), probabilities above 0.5 (BCE)."""
    name = type(loss_fn).__name__
    if name == "BCEWithLogitsLoss":
        return 0.0
    if name == "BCELoss":
        return 0.5
    return None


def _correct(output: Any, target: Any, threshold: float | None) -> tuple[int, int]:
    out, tgt = np.asarray(output), np.asarray(target)
    if threshold is not None or out.ndim == 1 or (out.ndim == 2 and out.shape[1] == 1):
        thr = 0.5 if threshold is None else threshold
        pred = (out.reshape(-1) > thr).astype(np.int64)
        return int((pred == tgt.reshape(-1).astype(np.int64)).sum()), pred.size
    pred = out.argmax(axis=1)
    if tgt.ndim == out.ndim:  # class probabilities as targets
        tgt = tgt.argmax(axis=1)
    return int((pred == tgt).sum()), int(pred.size)


def _to_device(batch: Any, device: Any) -> Any:
    if device is None:
        return batch
    if isinstance(batch, Tensor):
        return batch.to(device)
    if isinstance(batch, (list, tuple)):
        return type(batch)(_to_device(b, device) for b in batch)
    return batch


# ---------------------------------------------------------------------------- the loop
class Trainer:
    """What callbacks see: the model, the optimizer, the history, and ``stop``."""

    def __init__(self, model: Module, optimizer: Any, history: History) -> None:
        self.model, self.optimizer, self.history = model, optimizer, history
        self.stop = False


def _progress(iterable: Any, enabled: bool, desc: str, total: int | None) -> Any:
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, total=total, disable=not enabled, leave=False, dynamic_ncols=True)


def _num_batches(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


def evaluate(model: Module, loader: Iterable[Any], loss_fn: Any = None, metrics: Sequence[Any] = ("accuracy",),
             device: Any = None) -> dict[str, float]:  # fmt: skip
    """Mean loss and metrics of ``model`` (in eval mode, without a graph) over ``loader``."""
    was_training = model.training
    model.eval()
    total_loss, n_samples, correct, counted = 0.0, 0, 0, 0
    threshold = _binary_threshold(loss_fn)
    custom: dict[str, list[float]] = {}
    try:
        with grad_mode.no_grad():
            for inputs, targets in loader:
                inputs, targets = _to_device((inputs, targets), device)
                out = model(inputs)
                n = len(targets)
                if loss_fn is not None:
                    total_loss += float(loss_fn(out, targets)) * n
                for metric in metrics:
                    if metric == "accuracy":
                        c, m = _correct(out.numpy(force=True), targets.numpy(force=True), threshold)
                        correct += c
                        counted += m
                    else:
                        name = getattr(metric, "__name__", str(metric))
                        custom.setdefault(name, []).append(float(metric(targets, out)) * n)
                n_samples += n
    finally:
        model.train(was_training)
    logs: dict[str, float] = {}
    if loss_fn is not None:
        logs["loss"] = total_loss / max(n_samples, 1)
    if counted:
        logs["accuracy"] = correct / counted
    for name, values in custom.items():
        logs[name] = sum(values) / max(n_samples, 1)
    return logs


def fit(
    model: Module,
    loss_fn: Callable[[Tensor, Tensor], Tensor],
    optimizer: Any,
    train_loader: Iterable[Any],
    epochs: int,
    val_loader: Iterable[Any] | None = None,
    scheduler: Any = None,
    callbacks: Sequence[Callback] = (),
    metrics: Sequence[Any] = ("accuracy",),
    device: Any = None,
    progress: bool | None = None,
    verbose: bool = True,
    stop_on_nan: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` epochs; returns the per-epoch :class:`History`.

    Each batch: forward, ``loss_fn(output, target)``, ``zero_grad``, backward, ``step``.
    ``metrics``: "accuracy" and/or callables ``f(y_true, y_pred) -> float``.
    ``progress``: tqdm bars (default: only when stderr is a terminal).
    ``stop_on_nan``: raise :class:`TrainingDiverged` as soon as the loss is NaN/inf.
    """
    if epochs < 1:
        raise ValueError(f"fit: epochs must be >= 1, got {epochs}")
    if progress is None:
        progress = sys.stderr.isatty()
    if device is not None:
        model.to(device)
    history = History()
    trainer = Trainer(model, optimizer, history)
    threshold = _binary_threshold(loss_fn)
    per_batch = type(scheduler).__name__ == "OneCycleLR"
    on_plateau = type(scheduler).__name__ == "ReduceLROnPlateau"
    for cb in callbacks:
        cb.on_train_begin(trainer)
    n_batches = _num_batches(train_loader)
    for epoch in range(1, epochs + 1):
        model.train()
        total, n_seen, correct, counted = 0.0, 0, 0, 0
        bar = _progress(train_loader, progress, f"epoch {epoch}/{epochs}", n_batches)
        for b, (inputs, targets) in enumerate(bar):
            inputs, targets = _to_device((inputs, targets), device)
            output = model(inputs)
            loss = loss_fn(output, targets)
            value = float(loss)
            if stop_on_nan and not math.isfinite(value):
                history.stop_reason = f"loss became {value} at epoch {epoch}, batch {b + 1}"
                raise TrainingDiverged(
                    f"fit: the loss became {value} at epoch {epoch}, batch {b + 1}: training diverged. "
                    "Lower the learning rate, check the inputs for NaN, or clip gradients "
                    "(pass stop_on_nan=False to continue anyway).",
                    history,
                )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if per_batch:
                scheduler.step()
            n = len(targets)
            total += value * n
            n_seen += n
            if "accuracy" in metrics:
                c, m = _correct(output.numpy(force=True), targets.numpy(force=True), threshold)
                correct += c
                counted += m
            if progress:
                postfix = {"loss": f"{total / n_seen:.4f}"}
                if counted:
                    postfix["acc"] = f"{correct / counted:.3f}"
                bar.set_postfix(postfix)
        logs = {"loss": total / max(n_seen, 1)}
        if counted:
            logs["accuracy"] = correct / counted
        if val_loader is not None:
            val = evaluate(model, val_loader, loss_fn, metrics, device)
            logs.update({f"val_{k}": v for k, v in val.items()})
        logs["lr"] = optimizer.param_groups[0]["lr"]
        history.append(epoch, logs)
        if scheduler is not None and not per_batch:
            if on_plateau:
                scheduler.step(logs.get("val_loss", logs["loss"]))
            else:
                scheduler.step()
        if verbose:
            shown = "  ".join(f"{k} {v:.4g}" for k, v in logs.items())
            print(f"epoch {epoch:3d}/{epochs}  {shown}", flush=True)
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs, trainer)
        if trainer.stop:
            break
    for cb in callbacks:
        cb.on_train_end(trainer)
    if verbose and history.stop_reason != "completed":
        print(history.stop_reason, flush=True)
    return history


# ---------------------------------------------------------------------------- summary
class Summary:
    """The table ``summary`` prints; ``total_params``, ``trainable_params``, ``rows``."""

    def __init__(self, rows: list[tuple[str, tuple[int, ...], int]], total: int, trainable: int) -> None:
        self.rows, self.total_params, self.trainable_params = rows, total, trainable

    def __str__(self) -> str:
        line = "-" * 64
        out = [line, f"{'Layer (type)':>25}  {'Output Shape':>22}  {'Param #':>12}", "=" * 64]
        for name, shape, n in self.rows:
            out.append(f"{name:>25}  {list(shape)!s:>22}  {n:>12,}")
        out += ["=" * 64, f"Total params: {self.total_params:,}", f"Trainable params: {self.trainable_params:,}",
                f"Non-trainable params: {self.total_params - self.trainable_params:,}", line]  # fmt: skip
        return "\n".join(out)

    __repr__ = __str__


def summary(model: Module, input_size: Sequence[int], batch_size: int = 2, dtype: Any = None,
            device: Any = None, print_table: bool = True) -> Summary:  # fmt: skip
    """Layer table: each leaf layer's output shape (batch shown as -1) and parameter count.

    ``input_size`` excludes the batch dim, e.g. ``(3, 32, 32)``. The model runs once on
    zeros in eval mode without a graph; its mode is restored afterwards.
    """
    from minidl import creation

    rows: list[tuple[str, tuple[int, ...], int]] = []
    counters: dict[str, int] = {}
    handles = []

    def hook(module: Module, args: Any, output: Any) -> None:
        kind = type(module).__name__
        counters[kind] = counters.get(kind, 0) + 1
        shape = tuple(output.shape) if isinstance(output, Tensor) else ()
        params = sum(p.numel() for p in module.parameters(recurse=False))
        rows.append((f"{kind}-{len(rows) + 1}", (-1, *shape[1:]), params))

    for m in model.modules():
        if not m._modules:  # leaf layers
            handles.append(m.register_forward_hook(hook))
    was_training = model.training
    model.eval()
    try:
        with grad_mode.no_grad():
            x = creation.zeros(batch_size, *input_size, dtype=dtype, device=device)
            model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    params = list(model.parameters())
    result = Summary(rows, sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad))
    if print_table:
        print(result)
    return result
