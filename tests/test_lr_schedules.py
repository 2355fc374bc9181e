"""Learning-rate schedules from config: built beside each model's optimizer, stepped once per epoch, logged."""

from __future__ import annotations

import pytest
import torch
from hydra.utils import instantiate

from genmodels.errors import ConfigError
from genmodels.models.optimization import learning_rates, optimizer_config
from genmodels.train import train
from tests.helpers import SMALL_DCGAN

MODELS = ("vae", "dcgan", "gan_mlp")
SCHEDULES = {"exponential": torch.optim.lr_scheduler.ExponentialLR, "step": torch.optim.lr_scheduler.StepLR}
SMALL = {  # the smallest networks and images each model accepts
    "vae": ["model.encoder.hidden_dims=[16]"],
    "dcgan": SMALL_DCGAN[1:],
    "gan_mlp": ["model.generator.hidden_dims=[16,32]", "model.discriminator.hidden_dims=[16]"],
}
# A few batches per epoch, no figures, no test.
SHORT = ["data.batch_size=16", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1", "test=false"]
SHORT += ["figures.sample_epochs=[1]", "callbacks=none", "~logger"]


def test_optimizer_config_builds_the_partials_for_lightning():
    parameters = [torch.nn.Parameter(torch.zeros(2))]
    plain = optimizer_config(parameters)
    assert set(plain) == {"optimizer"} and isinstance(plain["optimizer"], torch.optim.Adam)
    scheduled = optimizer_config(
        parameters,
        lambda params: torch.optim.SGD(params, lr=0.5),
        lambda opt: torch.optim.lr_scheduler.ExponentialLR(opt, gamma=0.1),
    )
    schedule = scheduled["lr_scheduler"]["scheduler"]
    assert schedule.optimizer is scheduled["optimizer"] and scheduled["lr_scheduler"]["interval"] == "epoch"
    scheduled["optimizer"].step()
    schedule.step()
    assert scheduled["optimizer"].param_groups[0]["lr"] == pytest.approx(0.05)


def test_a_schedule_that_needs_a_metric_is_refused_with_the_fix():
    with pytest.raises(ConfigError, match="ReduceLROnPlateau.*lr_scheduler=exponential"):
        optimizer_config([torch.nn.Parameter(torch.zeros(2))], None, torch.optim.lr_scheduler.ReduceLROnPlateau)


def test_learning_rates_are_named_by_network():
    first = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    second = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.2)
    assert learning_rates({"": first}) == {"lr": 0.1}
    assert learning_rates({"discriminator": first, "generator": second}) == {
        "lr/discriminator": 0.1,
        "lr/generator": 0.2,
    }


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("schedule", [*sorted(SCHEDULES), None])
def test_every_model_composes_with_every_schedule(train_config, model, schedule):
    chosen = [f"lr_scheduler={schedule}"] if schedule else []
    configs = instantiate(train_config([f"model={model}", *chosen, *SMALL[model]]).model).configure_optimizers()
    configs = configs if isinstance(configs, list) else [configs]
    assert len(configs) == (1 if model == "vae" else 2)  # a GAN: one optimizer and schedule per network
    for entry in configs:
        if schedule is None:  # the optimizer alone
            assert set(entry) == {"optimizer"}
            continue
        assert isinstance(entry["lr_scheduler"]["scheduler"], SCHEDULES[schedule])
        assert entry["lr_scheduler"]["scheduler"].optimizer is entry["optimizer"]


@pytest.mark.parametrize(
    ("model", "schedule", "options", "factor"),
    [
        ("vae", "step", ["model.scheduler.step_size=2", "model.scheduler.gamma=0.1"], lambda e: 0.1 ** (e // 2)),
        ("dcgan", "exponential", ["model.scheduler.gamma=0.5"], lambda e: 0.5**e),
        ("gan_mlp", "step", ["model.scheduler.step_size=1", "model.scheduler.gamma=0.3"], lambda e: 0.3**e),
    ],
)
def test_a_short_run_changes_and_logs_the_learning_rate(train_config, model, schedule, options, factor):
    epochs = 3
    cfg = train_config([f"model={model}", f"lr_scheduler={schedule}", *options, *SMALL[model], *SHORT])
    cfg.trainer.max_epochs = epochs
    metrics, objects = train(cfg)
    base = cfg.model.optimizer.lr
    optimizers = objects["trainer"].optimizers
    assert len(optimizers) == (1 if model == "vae" else 2)
    for optimizer in optimizers:  # stepped after each of the epochs
        assert optimizer.param_groups[0]["lr"] == pytest.approx(base * factor(epochs))
    # logged: the rate in force during the last epoch, i.e. after epochs - 1 steps
    logged = ["lr"] if model == "vae" else ["lr/discriminator", "lr/generator"]
    for key in logged:
        assert metrics[key] == pytest.approx(base * factor(epochs - 1))


@pytest.mark.parametrize(("model", "logged"), [("vae", "lr"), ("gan_mlp", "lr/generator")])
def test_a_resumed_run_continues_its_schedule(train_config, model, logged):
    short = [f"model={model}", "lr_scheduler=exponential", "model.scheduler.gamma=0.5", *SMALL[model], *SHORT]
    first = train_config([*short, "trainer.max_epochs=2"])
    train(first)
    metrics, objects = train(train_config([*short, "trainer.max_epochs=4", f"resume={first.paths.output_dir}"]))
    base = first.model.optimizer.lr
    assert all(opt.param_groups[0]["lr"] == pytest.approx(base * 0.5**4) for opt in objects["trainer"].optimizers)
    assert metrics[logged] == pytest.approx(base * 0.5**3)
