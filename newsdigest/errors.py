"""Errors of the application layer (configuration, command line)."""

from __future__ import annotations


class NewsdigestError(Exception):
    """Root of the application's own errors."""


class ConfigError(NewsdigestError):
    """The configuration is invalid; the message names the file and the key path."""
