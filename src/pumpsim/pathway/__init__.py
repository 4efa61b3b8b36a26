"""The care pathway that leads to an implant: a patient file judged against the regional
reference (:mod:`.rules`).

It may import model, io, sim and rules; not planning, telemetry or programs.
"""
