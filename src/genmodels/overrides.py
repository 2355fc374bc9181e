"""Composition errors of a command line in one message; a misspelt key gets the closest valid keys (Hydra would
advise ``+trainer.max_epoch=3``, which then fails inside Lightning)."""

from __future__ import annotations

import argparse
import difflib
import itertools
import os
import re
import shlex
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.override_parser.types import Override, OverrideType
from hydra.errors import ConfigCompositionException, HydraException
from omegaconf import OmegaConf

from genmodels import CONFIG_DIR
from genmodels.runs.legacy import upgrade_overrides

MAX_GROUP_COMBINATIONS = 16  # a sweep over more combinations of groups is not checked


def unknown_key_message(config_name: str, arguments: Sequence[str]) -> str | None:
    """The error for the overrides in ``arguments`` that set keys missing from the config, or None.

    Group choices, additions (``+key``), deletions (``~key``) and ``hydra.*`` keys are left to Hydra. In a sweep
    over groups, a key counts as known if one of the swept configs has it.
    """
    overrides = parse_overrides(arguments)
    if overrides is None:
        return None
    keys = [o for o in overrides if o.type == OverrideType.CHANGE and not (CONFIG_DIR / o.key_or_group).is_dir()]
    checked = [o for o in keys if not o.is_hydra_override()]
    if not checked:
        return None
    others = [o for o in overrides if o not in keys]  # group choices, additions and deletions
    known: set[str] = set()
    try:
        for combination in _combinations(others):
            with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
                cfg = compose(config_name=config_name, overrides=combination)
            known |= set(_paths(OmegaConf.to_container(cfg, resolve=False)))
    except Exception:  # noqa: BLE001 - e.g. model=transformer: Hydra's own message, with the options, follows
        return None
    unknown = [  # an index into a list the config has (model.encoder.hidden_dims.0=256) is known too
        key
        for key in (o.key_or_group for o in checked)
        if key not in known and not (key.rpartition(".")[2].isdigit() and key.rpartition(".")[0] in known)
    ]
    if not unknown:
        return None
    lines = [f"error: {key} is not a key of this configuration{_suggestion(key, known)}" for key in unknown]
    lines.append(f"Every key and its value: python -m genmodels.{config_name} --cfg job")
    return "\n".join(lines)


@contextmanager
def composition_errors(config_name: str) -> Iterator[None]:
    """Around a Hydra ``main``: a composition error ends in one message and exit status 1, before any folder."""
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises its errors to us instead of printing its own report
    try:
        yield
    except ConfigCompositionException as exc:
        cause = f"\n{exc.__cause__}" if exc.__cause__ else ""
        print(unknown_key_message(config_name, sys.argv[1:]) or f"error: {exc}{cause}", file=sys.stderr)
        raise SystemExit(1) from None


def parse_overrides(arguments: Sequence[str]) -> list[Override] | None:
    """The overrides of a command line; None if it asks for help, names another config or does not parse."""
    try:
        args, _ = hydra_flags().parse_known_intermixed_args(list(arguments))
        if args.help or args.another_config:
            return None
        return OverridesParser.create().parse_overrides(args.overrides)
    except (SystemExit, HydraException):
        return None  # Hydra reports it


def hydra_flags() -> argparse.ArgumentParser:
    """The flags of a Hydra command line that matter here: help, another config, and those taking a value (which
    is not an override). Hydra's own parser is internal; any other flag (``-m``) is passed over."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("-h", "--help", "--hydra-help", action="store_true")
    for flags in (["-c", "--cfg"], ["-p", "--package"], ["--experimental-rerun"], ["-i", "--info"]):
        parser.add_argument(*flags, nargs="?")
    for flags in (["-cp", "--config-path"], ["-cn", "--config-name"], ["-cd", "--config-dir"]):
        parser.add_argument(*flags, dest="another_config")
    return parser


def _combinations(overrides: list[Override]) -> Iterator[list[str]]:
    """Override lists without sweeps: one per combination of swept group choices (all of them, up to a limit)."""
    choices: list[list[str]] = []
    for override in overrides:
        if not override.is_sweep_override():
            choices.append([override.input_line])
        elif override.is_choice_sweep():
            choices.append([f"{override.get_key_element()}={value}" for value in override.sweep_string_iterator()])
        else:
            return  # a range or glob sweep over a group: leave it to Hydra
    combinations = list(itertools.product(*choices))
    if len(combinations) <= MAX_GROUP_COMBINATIONS:
        yield from (list(combination) for combination in combinations)


def _paths(node: Any, prefix: str = "") -> Iterator[str]:
    """Every dotted key of a config container (mappings only; list items are addressed by index)."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield f"{prefix}{key}"
            yield from _paths(value, f"{prefix}{key}.")


def _suggestion(key: str, known: set[str]) -> str:
    """'; did you mean a or b?' with today's name of an earlier version's key, the keys that share the last name
    or are spelled alike, or ''."""
    renamed = [new for new in upgrade_overrides([key]) if new != key and new.rsplit(".", 1)[0] in known]
    leaf = key.rsplit(".", 1)[-1]
    same_leaf = sorted(k for k in known if k.rsplit(".", 1)[-1] == leaf)
    alike = difflib.get_close_matches(key, sorted(known), n=3, cutoff=0.75)
    candidates = list(dict.fromkeys([*renamed, *alike, *same_leaf]))[:3]
    return f"; did you mean {' or '.join(candidates)}?" if candidates else ""


def path_override(key: str, path: str | os.PathLike) -> str:
    """``key=<path>`` as Hydra's parser reads it back exactly: a path with characters outside Hydra's unquoted
    values (spaces, quotes, commas, non-ASCII, ...) goes in double quotes, a quote or a trailing backslash
    escaped, an interpolation ``${`` escaped too."""
    text = str(path)
    if re.fullmatch(r"[A-Za-z0-9_./\-+:@%]+", text):
        return f"{key}={text}"
    escaped = re.sub(r'(\\*)("|$)', lambda m: m.group(1) * 2 + ("\\" + m.group(2) if m.group(2) else ""), text)
    escaped = escaped.replace("${", "\\${")
    return f'{key}="{escaped}"'


def shell_command(module: str, arguments: Sequence[str]) -> str:
    """``python -m <module> <arguments>`` as a line that works pasted into a POSIX shell."""
    return shlex.join(["python", "-m", module, *arguments])
