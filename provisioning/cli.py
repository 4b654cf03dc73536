"""`provision`: device identities and flashing (see issue "Provisioning and device identity")."""

import sys


def main(argv: list[str] | None = None) -> int:
    print("provision: not yet available in this version (device identities come with the "
          "provisioning work; see README.md)", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
