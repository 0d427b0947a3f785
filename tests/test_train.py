"""The training loop: the digits acceptance figure, save/load, NaN stop, callbacks, summary, curves."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

import minidl as md
from minidl import nn, optim
from minidl.data import DataLoader, TensorDataset, datasets
from minidl.data import transforms as T
from minidl.train import Checkpoint, EarlyStopping, History, TrainingDiverged, evaluate, fit, summary


def small_cnn() -> nn.Module:
    """conv-BN-ReLU-pool, conv-ReLU, adaptive pool, dropout, linear (the issue's acceptance net)."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
        nn.Dropout(0.2), nn.Linear(256, 10),
    )  # fmt: skip


@pytest.fixture(scope="module")
def digits():
    tf = T.ToTensor()
    return datasets.Digits(train=True, transform=tf), datasets.Digits(train=False, transform=tf)


def test_small_cnn_reaches_97_percent_on_digits_and_round_trips(digits, tmp_path):
    train, test = digits
    md.manual_seed(0)
    model = small_cnn()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4)
    history = fit(model, nn.CrossEntropyLoss(), opt, DataLoader(train, batch_size=32, shuffle=True), epochs=15,
                  val_loader=DataLoader(test, batch_size=256), scheduler=optim.lr_scheduler.CosineAnnealingLR(opt, 15),
                  verbose=False)  # fmt: skip
    assert len(history.epochs) == 15
    final = evaluate(model, DataLoader(test, batch_size=256), nn.CrossEntropyLoss())
    assert final["accuracy"] >= 0.97, final
    assert history["val_accuracy"][-1] == pytest.approx(final["accuracy"])
    assert history["loss"][-1] < history["loss"][0]
    # lr followed the cosine schedule
    assert history["lr"][0] == pytest.approx(0.05) and history["lr"][-1] < 0.002

    path = tmp_path / "digits_cnn.npz"
    md.save(model.state_dict(), path)
    fresh = small_cnn()
    fresh.load_state_dict(md.load(path))
    model.eval()
    fresh.eval()
    x = next(iter(DataLoader(test, batch_size=64)))[0]
    np.testing.assert_array_equal(model(x).detach().numpy(), fresh(x).detach().numpy())


def _regression_data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, 4)).astype(np.float32)
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype=np.float32))[:, None]
    return TensorDataset(md.tensor(x), md.tensor(y))


def test_nan_loss_stops_with_a_clear_message():
    md.manual_seed(0)
    model = nn.Linear(4, 1)
    opt = optim.SGD(model.parameters(), lr=1e6)  # diverges within a few steps
    loader = DataLoader(_regression_data(), batch_size=8)
    with pytest.raises(TrainingDiverged, match="diverged") as err:
        fit(model, nn.MSELoss(), opt, loader, epochs=5, metrics=(), verbose=False)
    assert "stop_on_nan=False" in str(err.value) and isinstance(err.value.history, History)
    # the option to disable it: training runs to the end
    model = nn.Linear(4, 1)
    h = fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=1e6), loader, epochs=2, metrics=(),
            stop_on_nan=False, verbose=False)  # fmt: skip
    assert len(h.epochs) == 2 and not math.isfinite(h["loss"][-1])


def test_early_stopping_restores_the_best_epoch():
    md.manual_seed(0)
    model = nn.Linear(4, 1)
    train = DataLoader(_regression_data(), batch_size=16)
    val = DataLoader(_regression_data(seed=1), batch_size=64)
    # a learning rate that first improves then oscillates upwards, so the best epoch is early
    opt = optim.SGD(model.parameters(), lr=0.3)
    stopper = EarlyStopping(monitor="val_loss", patience=2)
    h = fit(model, nn.MSELoss(), opt, train, epochs=30, val_loader=val, callbacks=[stopper], metrics=(),
            scheduler=optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 if e < 4 else 12.0), verbose=False)  # fmt: skip
    assert len(h.epochs) < 30 and "early stopping" in h.stop_reason
    best = h.best_epoch("val_loss")
    assert stopper.best_epoch == best
    restored = evaluate(model, val, nn.MSELoss(), metrics=())["loss"]
    assert restored == pytest.approx(min(h["val_loss"]), rel=1e-5)


def test_checkpoint_writes_the_best_state(tmp_path):
    md.manual_seed(0)
    model = nn.Linear(4, 1)
    path = tmp_path / "best.npz"
    fit(model, nn.MSELoss(), optim.SGD(model.parameters(), lr=0.05), DataLoader(_regression_data(), batch_size=16),
        epochs=3, val_loader=DataLoader(_regression_data(seed=1), batch_size=64), callbacks=[Checkpoint(path)],
        metrics=(), verbose=False)  # fmt: skip
    state = md.load(path)
    assert list(state) == ["weight", "bias"]


def test_binary_accuracy_with_bce_with_logits():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((200, 2)).astype(np.float32)
    y = (x[:, :1] + x[:, 1:] > 0).astype(np.float32)
    md.manual_seed(0)
    model = nn.Linear(2, 1)
    h = fit(model, nn.BCEWithLogitsLoss(), optim.Adam(model.parameters(), lr=0.1),
            DataLoader(TensorDataset(md.tensor(x), md.tensor(y)), batch_size=20), epochs=10, verbose=False)  # fmt: skip
    assert h["accuracy"][-1] > 0.95


def test_summary_counts_lenet_parameters(capsys):
    lenet = nn.Sequential(
        nn.Conv2d(3, 32, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 128, 5, padding="same"), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(4 * 4 * 128, 64), nn.Linear(64, 10),
    )  # fmt: skip
    result = summary(lenet, (3, 32, 32))
    printed = capsys.readouterr().out
    assert result.total_params == 390_410 and result.trainable_params == 390_410
    assert "Total params: 390,410" in printed and "Conv2d-1" in printed and "[-1, 32, 32, 32]" in printed
    assert [r[1] for r in result.rows][:3] == [(-1, 32, 32, 32), (-1, 32, 32, 32), (-1, 32, 16, 16)]
    assert lenet.training  # mode restored
    lenet[0].requires_grad_(False)
    assert summary(lenet, (3, 32, 32), print_table=False).trainable_params == 390_410 - (5 * 5 * 3 * 32 + 32)


def test_history_plot_writes_a_non_blank_png(tmp_path):
    h = History()
    for e, (l, vl, a, va) in enumerate([(1.0, 1.1, 0.5, 0.45), (0.6, 0.8, 0.7, 0.6), (0.4, 0.7, 0.8, 0.7)], 1):
        h.append(e, {"loss": l, "val_loss": vl, "accuracy": a, "val_accuracy": va, "lr": 0.1})
    path = tmp_path / "curves.png"
    h.plot(path)
    img = np.asarray(Image.open(path).convert("L"), dtype=np.float64)
    assert img.shape[0] > 200 and img.std() > 5
    assert h.best_epoch("val_accuracy") == 3 and h.best_epoch("val_loss") == 3


def test_fit_rejects_bad_epochs():
    with pytest.raises(ValueError, match="epochs"):
        fit(nn.Linear(1, 1), nn.MSELoss(), optim.SGD(nn.Linear(1, 1).parameters(), lr=0.1), [], epochs=0)
