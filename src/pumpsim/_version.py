"""The version of pumpsim, in one place."""
__version__ = "0.1.0"
