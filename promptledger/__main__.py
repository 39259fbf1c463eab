"""`python -m promptledger ...`: the CLI."""

import sys

from promptledger.cli import main

sys.exit(main())
