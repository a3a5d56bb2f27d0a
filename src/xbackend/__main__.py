"""``python -m xbackend``."""

import sys

from xbackend._seed import main

sys.exit(main())
