"""The options of a config section checked against what its ``_target_`` takes, before anything is built.

Every node with a ``_target_`` (the model, its networks, its optimizer: the project's classes and a user's own) is
compared with the target's signature and type hints, so that ``model.beta=abc`` ends in one line naming the key,
the type and the fix, instead of a ``TypeError`` inside Hydra's ``instantiate``. A hint this check does not know
(a network, a callable) accepts any value; the target's constructor checks ranges itself.
"""

from __future__ import annotations

import difflib
import inspect
import json
import types
import typing
from collections.abc import Sequence
from typing import Any, Literal, Union

from hydra.errors import InstantiationException
from hydra.utils import get_object, instantiate
from omegaconf import DictConfig, OmegaConf

from genmodels.errors import ConfigError, GenmodelsError

SCALARS = {bool: (bool,), int: (int,), float: (int, float), str: (str,), type(None): (type(None),)}


def check_target_options(node: DictConfig, key: str) -> None:
    """Raise a ``ConfigError`` for the first option under ``key`` (e.g. ``model``) that its target does not take,
    or whose value does not fit the target's type hint."""
    _check(OmegaConf.to_container(node, resolve=True), key)


def build(node: DictConfig, key: str | None = None) -> Any:
    """``instantiate`` with plain containers (weights-only loadable hyper-parameters), its options first checked by
    ``check_target_options`` when ``key`` is given, re-raising a constructor's ``GenmodelsError`` instead of Hydra's
    wrapper."""
    if key:
        check_target_options(node, key)
    try:
        return instantiate(node, _convert_="all")
    except InstantiationException as exc:
        if isinstance(exc.__cause__, GenmodelsError):
            raise exc.__cause__ from None
        raise


def _check(values: Any, key: str) -> None:
    if not isinstance(values, dict):
        return
    if isinstance(values.get("_target_"), str):
        _check_call(values, key)
    for name, value in values.items():
        _check(value, f"{key}.{name}")


def _check_call(values: dict[str, Any], key: str) -> None:
    """The options of one ``_target_`` node (its own keys; nested nodes are checked on their own)."""
    target = values["_target_"]
    try:
        function = get_object(target)
        parameters = inspect.signature(function).parameters
    except Exception:  # noqa: BLE001 - an unknown target or no signature: Hydra's own message follows
        return
    try:
        hints = typing.get_type_hints(function.__init__ if inspect.isclass(function) else function)
    except Exception:  # noqa: BLE001 - hints that do not evaluate here: the names are still checked
        hints = {}
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    for name, value in values.items():
        if name.startswith("_") and name.endswith("_"):  # _target_, _partial_, ...: Hydra's own keys
            continue
        if name not in parameters:
            if open_ended:
                continue
            close = difflib.get_close_matches(name, list(parameters), n=1)
            advice = f"did you mean {key}.{close[0]}?" if close else f"remove it (~{key}.{name})"
            raise ConfigError(
                f"{key}.{name} is not an option of {target}, which takes {', '.join(parameters)}. Fix: {advice}"
            )
        hint = hints.get(name, Any)
        if not fits(value, hint):
            default = parameters[name].default
            known = default is not inspect.Parameter.empty and default is not None
            fix = f"e.g. {key}.{name}={_yaml(default)} (the default)" if known else f"a value of type {type_name(hint)}"
            got = repr(value) if isinstance(value, str) else _yaml(value)
            raise ConfigError(
                f"{key}.{name} must be of type {type_name(hint)} ({target} takes {name}: {type_name(hint)}), "
                f"got {got}. Fix: {fix}"
            )


def fits(value: Any, hint: Any) -> bool:
    """Whether a config value fits a type hint; a hint other than scalars, lists, unions and literals fits all."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return any(fits(value, arg) for arg in args)
    if origin is Literal:
        return value in args
    if hint in (list, tuple) or origin in (list, tuple, Sequence):
        item = args[0] if args else Any  # tuple[int, ...] and Sequence[int]: every item an int
        return isinstance(value, list | tuple) and all(fits(entry, item) for entry in value)
    if hint in SCALARS:  # bool is an int in Python, not in a config
        return isinstance(value, SCALARS[hint]) and (hint is bool or not isinstance(value, bool))
    return True


def type_name(hint: Any) -> str:
    """A type hint as a config user reads it: ``float``, ``list[int]``, ``int or null``."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return " or ".join(type_name(arg) for arg in args)
    if origin is Literal:
        return " or ".join(_yaml(arg) for arg in args)
    if hint in (list, tuple) or origin in (list, tuple, Sequence):
        return f"list[{type_name(args[0])}]" if args else "list"
    return "null" if hint is type(None) else getattr(hint, "__name__", str(hint))


def _yaml(value: Any) -> str:
    """A value as written on the command line: ``1.0``, ``[500]``, ``abc``."""
    return value if isinstance(value, str) else json.dumps(list(value) if isinstance(value, tuple) else value)
