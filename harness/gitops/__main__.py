"""`uv run poe gitops up | status | images`: Argo CD releasing Bosun's environments on the running node (see
install.py); `images` only builds Argo CD's and Redis' images (no cluster needed)."""

import sys

from harness.gitops import install
from harness.gitops.images import ensure_gitops_images
from harness.gitops.repository import GitopsError
from harness.images import ImageError


def main(argv: list[str]) -> int:
    command = argv[0] if argv else ""
    try:
        if command == "up":
            install.up()
        elif command == "images":
            for line in ensure_gitops_images().lines():
                print(line)
        elif command == "status":
            for line in install.status():
                print(line)
        else:
            print("usage: poe gitops up | status | images", file=sys.stderr)
            return 2
    except (GitopsError, ImageError) as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
