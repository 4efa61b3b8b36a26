"""The commands, one module per group; each module's ``register(sub)`` adds its sub-parsers
(in the order ``pumpsim --help`` lists them) and each command's function parses nothing more,
calls :mod:`pumpsim.api` and prints what it returns."""
from pumpsim.cli.commands import catalogue, dev, fleet, patient, planning, serve, table, telemetry

#: The command groups, in the order of ``pumpsim --help``.
GROUPS = (table, dev, telemetry, fleet, catalogue, planning, patient, serve)
