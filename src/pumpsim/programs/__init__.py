"""Ketamine and esketamine programs: the KET rules (:mod:`.rules`) and the program report
(:mod:`.report`).

It may import model, io, sim and rules; not planning, telemetry or pathway.
"""
