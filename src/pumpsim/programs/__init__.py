"""Ketamine and esketamine programs: the KET rules of the program family (:mod:`.rules`, and
KET-PROGRAM against a template in :mod:`.template`), registered in the rule kit and judged by
``kit.run("program", ...)``; the calendar of a program (:mod:`.course`: courses, infusions, oral
courses, day k through the time base); the findings' shape (:mod:`.finding`); the program report
(:mod:`.report`). The data they judge with is read by :mod:`pumpsim.io.ketamine`.

It may import model, io, sim and rules; not planning, telemetry or pathway.
"""
