"""Planning: the longest safe refill interval and its mix (:mod:`.plan`, :mod:`.plan_result`,
:mod:`.tablewrite`) and titration schedules (:mod:`.titrate`).

It may import model, io, sim and rules; not telemetry, pathway or programs.
"""
