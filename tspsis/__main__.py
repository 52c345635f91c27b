import sys

from tspsis.cli import main

sys.exit(main())
