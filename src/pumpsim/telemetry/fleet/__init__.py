"""Fleet surveillance (``pumpsim fleet``, docs/FLEET.md): many pumps' tables and records in one
embedded database (:mod:`pumpsim.io.fleetdb`), ingested all or nothing (:mod:`.ingest`), every
pump reconciled by `pumpsim reconcile`'s own code (:mod:`.adapter`, the only module that reads
it) and each model or lot judged by a pooled sequential test (:mod:`.grouptest`, :mod:`.scan`);
synthetic fleets with known truths (:mod:`.simulate`)."""
