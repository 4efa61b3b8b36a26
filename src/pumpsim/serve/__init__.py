"""``pumpsim serve``: a local web page over the Python API (docs/SERVE.md).

Panels: the table (live verdict, violations, doses, reservoir dates, figures), the change
review, plan and titrate, the refill check, pathway and program, save, and a printable patient
summary. :mod:`pumpsim.serve.backend` is the one module that calls pumpsim;
:mod:`pumpsim.serve.app` is the Flask application. Needs the ``serve`` extra
(``pip install 'pumpsim[serve]'``).
"""
