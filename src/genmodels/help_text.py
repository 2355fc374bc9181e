"""The config groups a command's ``--help`` lists, read from ``configs/`` so that new options show up by themselves.

``${config_groups:model data trainer}`` in a help template (``configs/hydra/help/``) becomes one line per group,
``model: conv_vae, dcgan, ...``: the YAML files directly inside ``configs/<group>/``.
"""

from __future__ import annotations

from omegaconf import OmegaConf

from genmodels import PROJECT_ROOT


def config_groups(names: str) -> str:
    """``group: option, option, ...`` lines for the space-separated group ``names``."""
    lines = []
    for group in names.split():
        options = sorted(path.stem for path in (PROJECT_ROOT / "configs" / group).glob("*.yaml"))
        lines.append(f"  {group}: {', '.join(options)}")
    return "\n".join(lines)


OmegaConf.register_new_resolver("config_groups", config_groups, replace=True)
