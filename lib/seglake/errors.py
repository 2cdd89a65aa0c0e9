"""Errors that describe a user mistake in one line.

The CLI prints these without a stack trace; anything else is a bug and keeps its trace.
"""


class SeglakeError(Exception):
    """Base class for errors the user can fix (bad config, bad path, bad input)."""


class ConfigError(SeglakeError):
    """A configuration file, key or value is wrong."""


class InputError(SeglakeError):
    """An input path or dataset is missing or unusable."""


class EnvironmentSetupError(SeglakeError):
    """The runtime (Java, jars, Spark) is not set up the way seglake needs."""
