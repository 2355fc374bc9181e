"""Which classes a run folder's config may name: ``evaluate`` and ``resume=`` rebuild objects from it with Hydra's
``instantiate``, so every ``_target_`` is resolved and checked as an object first: a class, named by its module and
its own name (no walk through a module's attributes), defined in an allowed package. Opening a shared run folder
runs none of its own code; ``allowed_targets`` adds packages or classes, ``trust_run_config=true`` lifts the check.
The config may use only the resolvers a run's own config uses (``RESOLVERS``): another, such as ``oc.create``,
could make a ``_target_`` appear only once resolved, after this check.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import GrammarParseError
from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser
from omegaconf.grammar_parser import parse

from genmodels.errors import RunFolderError

# Packages (a trailing dot) and single classes a run config may name. genmodels itself only through the packages
# a run is built from (e.g. not genmodels.metrics, whose Inception network loads a TorchScript file).
ALLOWED = (
    "genmodels.models.",
    "genmodels.data.",
    "genmodels.callbacks.",
    "torch.optim.",
    "torch.nn.",
    "lightning.pytorch.Trainer",
    "lightning.pytorch.callbacks.",
    "lightning.pytorch.loggers.",
)
# The resolvers of a run's saved config (schema.py's paths and channels); no other is resolved from a run folder.
RESOLVERS = ("oc.env", "project_root", "hydra", "image_channels")
OWN_VARIABLE = re.compile(r"\$\{\s*oc\.env\s*:\s*GENMODELS_[A-Z_]*\s*[,}]")  # oc.env reads only these


def _nodes(node: Any, key: str = "<top>") -> Iterator[tuple[str, Any]]:
    """(dotted key, value) of ``node`` and of everything under it; a mapping's keys count as values of its own key."""
    yield key, node
    if isinstance(node, dict):
        for name, value in node.items():
            yield key, name
            yield from _nodes(value, str(name) if key == "<top>" else f"{key}.{name}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _nodes(value, f"{key}[{index}]")


def _resolver_names(text: str) -> Iterator[str]:
    """The resolvers an OmegaConf string calls (``${oc.env:X}``: ``oc.env``), nested ones included; ``oc.env`` of a
    variable that is not genmodels' own as the whole call (a folder's config could copy a secret into the run's
    logs). A string OmegaConf cannot parse, or one with an escaped ``\\${`` (which a later resolution turns into a
    live interpolation), yields itself: refused, a run writes neither."""
    if "${" not in text:
        return
    try:
        tree = parse(text)
    except GrammarParseError:
        yield text
        return
    if "\\${" in text:
        yield text
    nodes = [tree]
    while nodes:
        node = nodes.pop()
        if isinstance(node, OmegaConfGrammarParser.ResolverNameContext):
            call = node.parentCtx.getText()
            yield call if node.getText() == "oc.env" and not OWN_VARIABLE.match(call) else node.getText()
        nodes.extend(getattr(node, "children", None) or [])


def check_resolvers(config: DictConfig, source: Path) -> None:
    """Raise ``RunFolderError`` naming the first string of ``config`` (read from ``source``) that calls a resolver
    outside ``RESOLVERS``."""
    texts = (
        (key, text) for key, text in _nodes(OmegaConf.to_container(config, resolve=False)) if isinstance(text, str)
    )
    for key, text in texts:
        refused = next((name for name in _resolver_names(text) if name not in RESOLVERS), None)
        if refused is not None:
            raise RunFolderError(
                f"{source} sets {key} to {text!r}, which calls the resolver {refused!r}: genmodels resolves only "
                f"{', '.join(RESOLVERS)} in a run folder (oc.env of GENMODELS_ variables, no escaped \\${{), since "
                "another could build objects that the check of its classes never sees, or copy a secret into the "
                "run's logs. Fix: restore the run's config (a run writes none of these)."
            )


def _within(name: str, packages: Iterable[str]) -> bool:
    """Whether the dotted ``name`` is one of ``packages`` or lies inside one."""
    return any(name == package or name.startswith(package + ".") for package in packages)


def refusal(target: Any, packages: tuple[str, ...], classes: tuple[str, ...]) -> str | None:
    """Why ``target`` may not be built (None when it may): it must be ``<module>.<Class>``, the module inside an
    allowed package (or the whole string an allowed class), imported as a module, the class defined there too.
    No module outside the allowed ones is imported to find out."""
    if not isinstance(target, str):
        return f"a {type(target).__name__}, not a class name"
    module_name, _, name = target.rpartition(".")
    if not module_name or not all(part.isidentifier() for part in target.split(".")):
        return "not a dotted <module>.<Class> name"
    if target not in classes and not _within(module_name, packages):
        return "outside the packages a run folder may name"
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return f"{module_name} is not a module"  # e.g. torch.nn.modules.module.torch: an attribute, not a module
    if module.__name__ != module_name:
        return f"{module_name} is another module's alias ({module.__name__})"
    value = getattr(module, name, None)
    if not inspect.isclass(value):
        return "not a class" if value is not None else f"no {name} in {module_name}"
    if target not in classes and not _within(value.__module__, packages):
        return f"it is {value.__module__}.{value.__qualname__}, defined outside the packages a run folder may name"
    return None


def check_run_targets(config: DictConfig, source: Path, allowed: Iterable[str] = (), trust: bool = False) -> None:
    """Raise ``RunFolderError`` naming the first ``_target_`` of ``config`` (read from ``source``) that is not an
    allowed class (``ALLOWED`` and ``allowed``: packages end in a dot, other entries are class names). Its resolvers
    are checked where a config is read (``check_resolvers``), whatever the trust."""
    if trust:
        return
    entries = [*ALLOWED, *(str(entry) for entry in allowed or ())]
    packages = tuple(entry.rstrip(".") for entry in entries if entry.endswith("."))
    classes = tuple(entry for entry in entries if not entry.endswith("."))
    nodes = _nodes(OmegaConf.to_container(config, resolve=False))
    targets = ((key, node["_target_"]) for key, node in nodes if isinstance(node, dict) and "_target_" in node)
    for key, target in targets:
        reason = refusal(target, packages, classes)
        if reason:
            nameable = reason.startswith("outside")  # a class of another package: allowed_targets can name it
            option = f"allowed_targets=[{target}] (or trust_run_config=true)" if nameable else "trust_run_config=true"
            raise RunFolderError(
                f"{source} names {key}._target_={target}, which genmodels does not build from a run folder "
                f"({reason}; it builds classes of {', '.join(entries)}): opening a run folder runs no code of its "
                f"own. Fix: restore the run's config, or, only if you trust this folder, add {option} to the command."
            )
