"""The ``pumpsim`` command line: argument parsing and printing only (:mod:`.main`). Every
orchestration lives in :mod:`pumpsim.api`.

It may import every package.
"""
