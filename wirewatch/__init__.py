"""Shared plumbing of the wirewatch services: settings, topics, logging, dead letters, CLI."""

__version__ = "0.1.0"
