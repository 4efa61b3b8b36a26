"""``python -m pumpsim.cli``: the same as the ``pumpsim`` command."""
import sys

from pumpsim.cli.main import main

sys.exit(main())
