"""Start-up checks on configuration values, failing with the key and the allowed values."""

from __future__ import annotations

from omegaconf import DictConfig


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the key, the value and what is allowed."""


def require_positive_int(key: str, value: object) -> None:
    """Raise ``ConfigError`` unless ``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{key} must be a positive integer (1, 2, ...), got {value!r}")


def validate_train_config(cfg: DictConfig) -> None:
    """Checks that span several config groups, run before anything is built or trained."""
    require_positive_int("latent", cfg.get("latent"))
    epochs = cfg.figures.get("sample_epochs") or []
    for epoch in epochs:
        require_positive_int("figures.sample_epochs entries", epoch)
    max_epochs = cfg.trainer.get("max_epochs")
    if cfg.trainer.get("fast_dev_run") or max_epochs is None or max_epochs < 0:
        return
    beyond = [epoch for epoch in epochs if epoch > max_epochs]
    if beyond:
        within = [epoch for epoch in epochs if epoch <= max_epochs] or [1]
        raise ConfigError(
            f"figures.sample_epochs {list(epochs)} has epochs {beyond} beyond trainer.max_epochs={max_epochs}; "
            f"allowed: 1..{max_epochs}. Set e.g. figures.sample_epochs=[{','.join(map(str, within))}] "
            f"(the last epoch is always drawn)."
        )
