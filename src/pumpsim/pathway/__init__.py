"""The care pathway that leads to an implant: a patient file judged against the regional
reference. :mod:`.context` holds what the rules read (the patient file, the profile, the table's
programmed and worst cases) and the day counting; :mod:`.rules` the PATH rules, registered in the
rule kit's ``pathway`` family; :mod:`.timeline` the dates in order; :mod:`.report` the runner's
report (verdict, JSON, text).

It may import model, io, sim and rules; not planning, telemetry or programs.
"""
