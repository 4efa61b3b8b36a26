"""Readers and writers: programming tables (:mod:`.tables`), telemetry records (:mod:`.records`),
patient files (:mod:`.patient`), session programs (:mod:`.programs`), the shipped data library
and profiles (:mod:`.library`), the bibliography (:mod:`.bibliography`), the TOML writer
(:mod:`.tomlwrite`) and atomic output (:mod:`.output`).

It may import :mod:`pumpsim.model.table` only. Every problem of a file is reported at once, naming the
file, the field and the fix.
"""
