"""Where agents are found: built-ins, `@register_agent`, and the `futbot.agents` entry points."""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Callable, TypeVar

from engine.agents.base import Agent

ENTRY_POINT_GROUP = "futbot.agents"
_REGISTRY: dict[str, type[Agent]] = {}

A = TypeVar("A", bound=type[Agent])


def register_agent(name: str) -> Callable[[A], A]:
    """Class decorator: make an Agent subclass available by `name` in config and the CLI."""

    def decorate(cls: A) -> A:
        if not (isinstance(cls, type) and issubclass(cls, Agent)):
            raise TypeError(f"register_agent({name!r}) needs an Agent subclass, got {cls!r}")
        existing = _REGISTRY.get(name)
        if existing is not None and existing is not cls:
            raise ValueError(f"agent name {name!r} is already registered by {existing.__qualname__}")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _load_entry_points() -> None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name not in _REGISTRY:
            register_agent(ep.name)(ep.load())


def available_agents() -> list[str]:
    _load_builtins()
    _load_entry_points()
    return sorted(_REGISTRY)


def create_agent(name: str, params: dict[str, Any] | None = None) -> Agent:
    """Instantiate a registered agent with its parameters; errors say what is allowed."""
    known = available_agents()
    if name not in known:
        raise ValueError(f"unknown agent {name!r}; available: {', '.join(known)}")
    cls = _REGISTRY[name]
    try:
        return cls(**(params or {}))
    except TypeError as exc:
        raise ValueError(f"agent {name!r}: bad parameters {params!r}: {exc}") from None


def create_agents(names: list[str], params: dict[str, dict[str, Any]]) -> list[Agent]:
    unknown_params = set(params) - set(names)
    if unknown_params:
        raise ValueError(f"agents.params names agents that are not enabled: {sorted(unknown_params)}")
    return [create_agent(n, params.get(n)) for n in names]


def _load_builtins() -> None:
    # Imported for their @register_agent side effect.
    from engine.agents import builtin, sma_cross  # noqa: F401
