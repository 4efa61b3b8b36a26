"""Safety rules: the rule kit every family shares (:mod:`.kit`: one finding type, one catalogue,
one registry, one runner), the static rules (:mod:`.static`), the rules that judge simulations
(:mod:`.simulated`), the independent check that recomputes doses another way (:mod:`.check`),
and the validate pipeline (:mod:`.validate`) with its report object (:mod:`.report`).

It may import :mod:`pumpsim.model.table`, :mod:`pumpsim.io` and :mod:`pumpsim.sim`; the independent check
never imports the kernels or the simulators.
"""
