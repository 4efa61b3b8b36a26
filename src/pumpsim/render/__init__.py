"""Rendering: figures (:mod:`.figures`, :mod:`.pathway_figure`, :mod:`.telemetry_figure`), the
Monte-Carlo risks in words (:mod:`.montecarlo`) and the self-contained HTML report (:mod:`.html`).
Nothing here simulates or judges: it draws and words what a result already holds.

It may import every package above it (model to programs).
"""
