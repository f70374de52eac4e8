"""Named registries that build objects from ``dict(type=..., **kwargs)`` configs.

The registry names and the ``type`` strings are Pointcept's, so a Pointcept config
builds here unchanged. Each registry knows which module fills it and imports that
module on first lookup, so ``build`` works without importing the whole package first.
"""
from __future__ import annotations

import copy
import difflib
import importlib
import inspect
from typing import Any, Callable, Iterable


class RegistryError(KeyError):
    """Unknown type name or a duplicate registration."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class Registry:
    """A name → class (or function) table.

    Args:
        name: the registry's name as it appears in error messages (Pointcept's name).
        populated_by: modules imported on first lookup; they register their entries.
    """

    def __init__(self, name: str, populated_by: Iterable[str] = ()):
        self.name = name
        self._modules: dict[str, Any] = {}
        self._populated_by = tuple(populated_by)
        self._populated = False

    # -- registration -------------------------------------------------------
    def register_module(self, name: str | Iterable[str] | None = None, force: bool = False, module=None):
        """Register a class/function; usable as ``@REG.register_module()`` or ``@REG.register_module("A-v1")``.

        ``name`` may be a list of names (aliases). A second registration of a name raises
        unless ``force=True``.
        """
        if module is not None:
            self._register(module, name, force)
            return module

        def decorator(obj):
            self._register(obj, name, force)
            return obj

        return decorator

    def _register(self, obj, name, force):
        names = [obj.__name__] if name is None else ([name] if isinstance(name, str) else list(name))
        for n in names:
            if n in self._modules and not force and self._modules[n] is not obj:
                raise RegistryError(
                    f"'{n}' is already registered in registry '{self.name}' "
                    f"(by {self._modules[n].__module__}.{self._modules[n].__qualname__}); "
                    f"pass force=True to replace it"
                )
            self._modules[n] = obj

    # -- lookup -------------------------------------------------------------
    def _populate(self):
        if self._populated:
            return
        self._populated = True
        for mod in self._populated_by:
            importlib.import_module(mod)

    @property
    def module_dict(self) -> dict[str, Any]:
        self._populate()
        return dict(self._modules)

    def __contains__(self, name: str) -> bool:
        self._populate()
        return name in self._modules

    def __len__(self) -> int:
        self._populate()
        return len(self._modules)

    def get(self, name: str):
        self._populate()
        if name in self._modules:
            return self._modules[name]
        close = difflib.get_close_matches(name, list(self._modules), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(repr(c) for c in close)}?" if close else ""
        raise RegistryError(
            f"'{name}' is not registered in registry '{self.name}'.{hint} "
            f"Registered: {', '.join(sorted(self._modules)) or '(none)'}"
        )

    def build(self, cfg, default_args: dict | None = None, **kwargs):
        return build_from_cfg(cfg, self, default_args=default_args, **kwargs)

    def __repr__(self) -> str:
        return f"Registry(name={self.name!r}, items={sorted(self._modules)})"


def build_from_cfg(cfg, registry: Registry, default_args: dict | None = None, **kwargs):
    """Build ``registry[cfg['type']](**rest)``.

    The config is deep-copied first (constructors may mutate their argument dicts).
    ``default_args`` fill keys the config lacks; ``kwargs`` are passed through unchanged
    (for objects that must not be copied, e.g. a model or an optimizer).
    """
    if not isinstance(cfg, dict):
        raise TypeError(f"{registry.name}: a config must be a dict with a 'type' key, got {type(cfg).__name__}: {cfg!r}")
    if "type" not in cfg and not (default_args and "type" in default_args):
        raise KeyError(f"{registry.name}: the config has no 'type' key: {dict(cfg)!r}")
    args = {k: copy.deepcopy(v) for k, v in cfg.items()}
    for k, v in (default_args or {}).items():
        args.setdefault(k, v)
    obj_type = args.pop("type")
    if isinstance(obj_type, str):
        obj_cls = registry.get(obj_type)
        type_name = obj_type
    elif callable(obj_type):
        obj_cls = obj_type
        type_name = getattr(obj_type, "__name__", repr(obj_type))
    else:
        raise TypeError(f"{registry.name}: 'type' must be a str or a class, got {type(obj_type).__name__}")
    args.update(kwargs)
    try:
        return obj_cls(**args)
    except TypeError as e:
        bad = _unexpected_arguments(obj_cls, args)
        hint = f" Unknown argument(s): {', '.join(bad)}." if bad else ""
        try:
            new = type(e)(f"{type_name} ({registry.name}): {e}.{hint}")
        except Exception:
            raise e
        raise new from e
    except Exception as e:  # re-raise with the class name, keeping the type where possible
        try:
            new = type(e)(f"{type_name} ({registry.name}): {e}")
        except Exception:
            raise e
        raise new from e


def _unexpected_arguments(fn: Callable, args: dict) -> list[str]:
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return []
    params = sig.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return []
    names = [p.name for p in params]
    unknown = []
    for k in args:
        if k not in names:
            close = difflib.get_close_matches(k, names, n=1, cutoff=0.6)
            unknown.append(f"'{k}' (did you mean '{close[0]}'?)" if close else f"'{k}'")
    return unknown


# The registries of the reference, each with the modules that fill it.
MODELS = Registry("models", ["pointlab.models"])
MODULES = Registry("modules", ["pointlab.models"])
LOSSES = Registry("losses", ["pointlab.models.losses"])
DATASETS = Registry("datasets", ["pointlab.data.datasets"])
TRANSFORMS = Registry("transforms", ["pointlab.data.transforms"])
HOOKS = Registry("hooks", ["pointlab.engine.hooks", "pointlab.evaluation.hooks", "pointlab.engine.multi_dataset"])
TRAINERS = Registry("trainers", ["pointlab.engine.trainers"])
TESTERS = Registry("testers", ["pointlab.evaluation.testers"])
OPTIMIZERS = Registry("optimizers", ["pointlab.engine.optim"])
SCHEDULERS = Registry("schedulers", ["pointlab.engine.optim"])

ALL_REGISTRIES = {r.name: r for r in (MODELS, MODULES, LOSSES, DATASETS, TRANSFORMS, HOOKS, TRAINERS, TESTERS, OPTIMIZERS, SCHEDULERS)}
