"""`uv run poe gitops up | status`: Argo CD releasing Bosun's environments on the running node (see install.py)."""

import sys

from harness.gitops import install
from harness.gitops.repository import GitopsError
from harness.images import ImageError


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    try:
        if command == "up":
            install.up()
        elif command == "status":
            for line in install.status():
                print(line)
        else:
            print("usage: poe gitops up | status", file=sys.stderr)
            return 2
    except (GitopsError, ImageError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
