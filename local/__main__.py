"""``python -m local``: run filegate on 127.0.0.1 until Ctrl-C or SIGTERM (see local/README.md)."""

import sys

from local.mode import main

sys.exit(main())
