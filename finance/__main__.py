import sys

from finance.cli import main

sys.exit(main())
