"""Developer tooling on top of the API: the safety regression over a folder of scenarios with
golden reports (:mod:`.regress`) and the engine-against-reference benchmark (:mod:`.bench`).

It may import every package but :mod:`pumpsim.cli`.
"""
