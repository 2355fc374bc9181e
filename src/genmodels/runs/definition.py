"""A run's definition as its folder keeps it, ``.hydra/config.yaml`` and ``overrides.yaml``, read and checked whole:
resume and evaluate rebuild a run only from a complete, valid config (every section of the schema, the objects it
builds named by ``_target_``, interpolations that resolve); any damage is one ``ConfigError`` naming the file.
"""

from __future__ import annotations

import copy
from dataclasses import fields
from pathlib import Path

from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import DictConfig, ListConfig, OmegaConf

from genmodels.errors import ConfigError
from genmodels.runs.legacy import upgrade_model_config
from genmodels.runs.trust import check_resolvers
from genmodels.schema import TrainConfig, run_config_schema

CONFIG_FIX = "Fix: restore the file from a copy, or start a new run (its checkpoints stay usable with ckpt_path=)."
# Options of the command that opens a folder, never saved in it.
COMMAND_ONLY_KEYS = ("allowed_targets", "trust_run_config")
SECTIONS = tuple(field.name for field in fields(TrainConfig) if field.name not in COMMAND_ONLY_KEYS)
BUILT = ("data", "model", "trainer")  # sections that are one object each
GROUPS = ("callbacks", "logger")  # sections of named objects, or null


def _load(path: Path, fix: str) -> DictConfig | ListConfig:
    """The YAML file at ``path``; unreadable, not a regular file (a named pipe would block) or not YAML (binary, a
    syntax error) is one ``ConfigError``."""
    if path.exists() and not path.is_file():
        raise ConfigError(f"{path} is not a regular file. {fix}")
    try:
        return OmegaConf.load(path)
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror or exc}. {fix}") from None
    except Exception as exc:  # a YAML syntax error, or bytes that are no text (UnicodeDecodeError)
        first = (str(exc).splitlines() or [""])[0]
        raise ConfigError(f"{path} is not valid YAML ({type(exc).__name__}: {first}). {fix}") from None


def read_run_config(path: Path) -> DictConfig:
    """Read a run's ``.hydra/config.yaml`` and check it is complete and valid (any damage is one ``ConfigError``); an
    earlier version's model config comes in today's layout (``runs.legacy``)."""
    config = _load(path, CONFIG_FIX)
    if not isinstance(config, DictConfig):
        raise ConfigError(f"{path} holds a YAML list, not a run config (a mapping of sections). {CONFIG_FIX}")
    missing = [key for key in SECTIONS if key not in config]
    if missing:
        raise ConfigError(f"{path} is empty or cut short (no {', '.join(missing)} section). {CONFIG_FIX}")
    check_resolvers(config, path)  # before anything is resolved
    damage = _damage(config, path.parent.parent)
    if damage:
        raise ConfigError(f"{path} is damaged: {damage}. {CONFIG_FIX}")
    config.model = upgrade_model_config(OmegaConf.to_container(config.model, resolve=False))  # an older version's
    return config


def _damage(config: DictConfig, folder: Path) -> str | None:
    """What is wrong in a complete config (None when nothing): types against the schema, objects without a class,
    interpolations that do not resolve (``paths.output_dir`` taken as ``folder``, as the commands set it)."""
    try:
        OmegaConf.merge(run_config_schema(config), config)
    except Exception as exc:  # omegaconf's ValidationError and its kin name the key
        return (str(exc).splitlines() or [type(exc).__name__])[0]
    for key in BUILT:
        if not isinstance(config[key], DictConfig) or "_target_" not in config[key]:
            return f"{key} is not an object with a _target_ class"
    for group in GROUPS:
        entries = config[group]
        if entries is not None and not isinstance(entries, DictConfig):
            return f"{group} is neither null nor a mapping of named objects"
        for name, entry in (entries or {}).items():
            if entry is not None and (not isinstance(entry, DictConfig) or "_target_" not in entry):
                return f"{group}.{name} is neither null nor an object with a _target_ class"
    resolved = copy.deepcopy(config)
    resolved.paths.output_dir = str(folder)
    try:
        OmegaConf.resolve(resolved)
    except Exception as exc:  # an interpolation to a missing key, an unknown resolver, a value still ???
        return f"an interpolation does not resolve ({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]})"
    return None


def read_overrides(path: Path) -> list[str]:
    """The command-line overrides a run keeps in ``path`` (its ``.hydra/overrides.yaml``), checked to be a list of
    overrides Hydra parses, none of Hydra's own settings (a run keeps none; ``hydra.searchpath`` would import a
    module when a resume composes them); a damaged file is one ``ConfigError``."""
    fix = "Fix: restore the file from a copy (a YAML list of the run's overrides, e.g. - latent=2), or start a new run."
    loaded = _load(path, fix)
    overrides = OmegaConf.to_container(loaded, resolve=False) if isinstance(loaded, ListConfig) else None
    if overrides is None or not all(isinstance(item, str) for item in overrides):
        raise ConfigError(f"{path} is not a list of overrides (strings such as latent=2). {fix}")
    try:
        parsed = OverridesParser.create().parse_overrides(overrides)
    except Exception as exc:  # hydra's OverrideParseException
        first = (str(exc).splitlines() or [""])[0]
        raise ConfigError(f"{path} holds an override Hydra cannot parse ({first}). {fix}") from None
    for override in parsed:
        if override.key_or_group.split(".")[0].split("/")[0] == "hydra":
            raise ConfigError(
                f"{path} holds {override.input_line}, a setting of Hydra itself, which a run never keeps there and "
                f"genmodels does not apply from a run folder. {fix}"
            )
    return overrides
