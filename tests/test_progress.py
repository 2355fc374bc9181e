"""Feedback on long runs: the CPU cost estimate (from a fake clock) and the progress bar's redraws."""

import io
import logging
from types import SimpleNamespace

import pytest
from lightning.pytorch.callbacks import Timer
from lightning.pytorch.callbacks.progress.tqdm_progress import Tqdm

from genmodels.callbacks.progress import CostEstimate, EpochProgressBar, cost_message
from genmodels.tables import format_duration


def fake_trainer(device: str = "cpu", image_size: int = 64) -> SimpleNamespace:
    """The parts of a Trainer the estimate reads: a 40-epoch run of 430 batches per epoch."""
    return SimpleNamespace(
        strategy=SimpleNamespace(root_device=SimpleNamespace(type=device)),
        is_global_zero=True,
        fast_dev_run=False,
        max_epochs=40,
        current_epoch=0,
        num_training_batches=430,
        datamodule=SimpleNamespace(image_size=image_size),
        callbacks=[],  # no trainer.max_time
    )


class FakeClock:
    """Each call is ``step`` seconds after the previous one."""

    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def run_batches(callback: CostEstimate, trainer, count: int) -> None:
    """One epoch of ``count`` batches."""
    callback.on_train_start(trainer, None)
    callback.on_train_epoch_start(trainer, None)
    for batch_idx in range(count):
        callback.on_train_batch_end(trainer, None, None, None, batch_idx)
    callback.on_train_epoch_end(trainer, None)


def test_slow_cpu_run_gets_its_cost_and_how_to_shorten_it(caplog):
    callback = CostEstimate(clock=FakeClock(4.0))  # a 64x64 DCGAN on 2 CPU cores: about 4 s per batch
    with caplog.at_level(logging.INFO, logger="genmodels.callbacks.progress"):
        run_batches(callback, fake_trainer(), 10)
    [record] = caplog.records  # said once, after the first batch and three more (12 s)
    left = 40 * 430 - 4
    assert record.levelno == logging.WARNING
    assert f"about {format_duration(4.0 * left)} to go ({left:,} batches at 0.25 batches/s" in record.message
    assert "19 h 06 min" in record.message
    assert "data.image_size=32" in record.message and "python -m genmodels.report --preset cpu" in record.message


@pytest.mark.parametrize("timer", [[], [Timer(duration="00:00:45:00")]], ids=["no time limit", "one beyond the run"])
def test_short_cpu_run_gets_its_cost_without_advice(caplog, timer):
    trainer = fake_trainer(image_size=28)
    trainer.callbacks = timer
    with caplog.at_level(logging.INFO, logger="genmodels.callbacks.progress"):
        run_batches(CostEstimate(clock=FakeClock(0.001)), trainer, 60)
    [record] = caplog.records  # after max_batches (50) batches, the 5 s not reached
    assert record.levelno == logging.INFO and "about 17 s to go (17,149 batches" in record.message
    assert "shorten" not in record.message and "max_time" not in record.message


def test_a_run_stopped_by_max_time_is_told_when_and_after_how_many_epochs(caplog):
    trainer = fake_trainer(image_size=28)
    trainer.max_epochs, trainer.callbacks = 10_000, [Timer(duration="00:00:45:00")]  # experiment=binarized_vae
    with caplog.at_level(logging.INFO, logger="genmodels.callbacks.progress"):
        run_batches(CostEstimate(clock=FakeClock(0.032)), trainer, 60)
    [record] = caplog.records  # after 51 batches; (51 + 2700 s / 0.032 s) / 430 batches per epoch = 196.3
    assert record.levelno == logging.INFO
    expected = "trainer.max_time stops the fit in 45 min, after about 196 of 10,000 epochs (31.25 batches/s"
    assert expected in record.message
    assert "to go" not in record.message and "shorten" not in record.message


def test_an_epoch_too_short_to_measure_is_measured_whole(caplog):
    trainer = fake_trainer(image_size=28)
    trainer.num_training_batches = 3  # 3 batches of 1 s: fewer than 5 s after the first one
    with caplog.at_level(logging.INFO, logger="genmodels.callbacks.progress"):
        run_batches(CostEstimate(clock=FakeClock(1.0)), trainer, 3)
    [record] = caplog.records
    assert "about 2 min to go (117 batches at 1.00 batches/s" in record.message


def test_no_estimate_on_a_gpu(caplog):
    with caplog.at_level(logging.INFO, logger="genmodels.callbacks.progress"):
        run_batches(CostEstimate(clock=FakeClock(4.0)), fake_trainer(device="cuda"), 10)
    assert not caplog.records


def test_cost_message_suggests_the_smaller_image_only_for_64_pixels():
    assert "data.image_size=32" not in cost_message(1.0, 10_000, 32, suggest_after_minutes=10)
    assert "data.image_size=32" in cost_message(1.0, 10_000, 64, suggest_after_minutes=10)
    assert [format_duration(s) for s in (45, 720, 3 * 3600 + 300)] == ["45 s", "12 min", "3 h 05 min"]


@pytest.mark.parametrize("refresh_seconds, redrawn", [(1000, [20, 40, 43]), (0, list(range(1, 44)))])
def test_progress_bar_redraws_after_enough_batches_or_enough_time(refresh_seconds, redrawn):
    bar = EpochProgressBar(refresh_rate=20, refresh_seconds=refresh_seconds)
    bar.train_progress_bar = Tqdm(total=43, file=io.StringIO())
    drawn = []
    bar.get_metrics = lambda trainer, pl_module: drawn.append(bar.train_progress_bar.n) or {}
    for batch_idx in range(43):
        bar.on_train_batch_end(None, None, None, None, batch_idx)
    assert drawn == redrawn  # every 20 batches and the last; with 0 s (slow batches), after each one


def test_progress_bar_names_the_epoch_counted_from_one():
    bar = EpochProgressBar()
    bar.train_progress_bar = Tqdm(total=43, file=io.StringIO())
    trainer = SimpleNamespace(current_epoch=2, max_epochs=40, num_training_batches=43, is_global_zero=True)
    bar.setup(trainer, None, "fit")
    bar.on_train_epoch_start(trainer)
    assert bar.train_progress_bar.desc == "Epoch 3/40: " and bar.train_progress_bar.total == 43
