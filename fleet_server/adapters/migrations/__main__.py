import sys

from fleet_server.adapters.migrations import main

sys.exit(main(sys.argv[1:]))
