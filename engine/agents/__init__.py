"""Agents: the plugin API (`Agent`, `Intent`, `register_agent`) and the built-in agents."""
from engine.agents.base import Agent, Intent
from engine.agents.registry import available_agents, create_agent, register_agent

__all__ = ["Agent", "Intent", "available_agents", "create_agent", "register_agent"]
