"""Telemetry: what a pump reports and what its table should have done: reconciliation of
records with the table (:mod:`.reconcile`), synthetic records of a simulated pump
(:mod:`.synthetic`) and the simulated event log (:mod:`.eventlog`).

It may import model, io, sim and rules; not planning, pathway or programs.
"""
