"""`terminal-sim`: the terminal simulator (see issue "Simulator")."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("terminal-sim: not yet available in this version (the simulator comes once the "
          "firmware exists; see README.md)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
