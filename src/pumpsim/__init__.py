"""pumpsim: pump telemetry simulator and dosing safety kernel for implanted intrathecal pumps.

Decision support for professionals, not a medical device.
"""
__version__ = "0.1.0"
