"""A resumed run's config: the saved one with only the effect of the new overrides applied."""

import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from omegaconf import OmegaConf

from genmodels.errors import ConfigError
from genmodels.runs.resume import merge_overrides, resumed_config
from tests.helpers import CONFIGS

SAVED = ["latent=2", "trainer.max_epochs=3", "model.beta=0.5"]


@pytest.fixture
def hydra_configs():
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONFIGS), version_base="1.3"):
        yield
    GlobalHydra.instance().clear()


def saved_config():
    """The run's saved config, with a value the code's defaults no longer give (kept by a resume)."""
    cfg = compose("train", overrides=SAVED)
    cfg.trainer.log_every_n_steps = 7
    return cfg


def test_new_overrides_replace_those_of_the_same_key():
    merged = merge_overrides(SAVED, ["trainer.max_epochs=10", "~callbacks.manifold"])
    assert merged == ["latent=2", "model.beta=0.5", "trainer.max_epochs=10", "~callbacks.manifold"]


def test_only_the_effect_of_the_new_overrides_is_applied(hydra_configs):
    new = ["trainer.max_epochs=10", "~callbacks.manifold", "trainer=cpu", "+callbacks.extra.every=2"]
    config, merged, changes = resumed_config(saved_config(), SAVED, new)
    assert config.trainer.max_epochs == 10 and config.trainer.accelerator == "cpu"
    assert "manifold" not in config.callbacks and config.callbacks.extra.every == 2
    assert config.trainer.log_every_n_steps == 7  # the saved value, not today's default
    assert config.latent == 2 and config.model.beta == 0.5
    assert OmegaConf.to_container(config.model)["latent_dim"] == "${latent}"  # interpolations are kept
    assert set(changes) == {"trainer.max_epochs", "trainer.accelerator", "callbacks.extra.every"} | {
        key for key in changes if key.startswith("callbacks.manifold.")
    }
    assert merged == [*SAVED[:1], SAVED[2], *new]


def test_no_new_overrides_give_the_saved_config(hydra_configs):
    saved = saved_config()
    config, merged, changes = resumed_config(saved, SAVED, [])
    assert OmegaConf.to_yaml(config) == OmegaConf.to_yaml(saved) and merged == SAVED and changes == {}


@pytest.mark.parametrize(
    "override, named",
    [("latent=3", "latent"), ("model.beta=2", "model.beta"), ("seed=1", "seed"), ("data=fashion_mnist", "data.")],
)
def test_changes_to_the_model_data_or_seed_are_refused_by_name(hydra_configs, override, named):
    with pytest.raises(ConfigError, match=f"{override} would change {named}"):
        resumed_config(saved_config(), SAVED, [override])


def test_repeating_an_override_of_the_run_changes_nothing(hydra_configs):
    config, _, changes = resumed_config(saved_config(), SAVED, ["latent=2", "model.beta=0.5"])
    assert changes == {} and config.latent == 2
