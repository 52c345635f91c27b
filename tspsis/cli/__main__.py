import sys

from tspsis.cli.commands import main

sys.exit(main())
