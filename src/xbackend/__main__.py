"""``python -m xbackend``: the ``xbackend`` command (``report`` by default; see ``xbackend._cli``)."""

import sys

from xbackend._cli import main

sys.exit(main())
