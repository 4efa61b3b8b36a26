"""The model: the typed, immutable table and the data it is judged against (:mod:`.table`),
quantities and their units (:mod:`.units`), the one time base in whole seconds (:mod:`.timebase`),
the tolerances of comparisons (:mod:`.tolerances`), what a simulation is asked and returns
(:mod:`.results`) and input errors (:mod:`.errors`).

It reads no file and imports nothing else of pumpsim: every other package builds on it.
"""
