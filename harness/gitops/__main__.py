"""`uv run poe gitops up | status | images`: Argo CD releasing Bosun's environments on the running node (see
install.py); `images` only builds Argo CD's and Redis' images (no cluster needed)."""

import sys

from harness.gitops import install
from harness.gitops.images import ensure_gitops_images
from harness.gitops.repository import GitopsError
from harness.images import ImageError

USAGE = "usage: poe gitops up | status | images"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("up", "status", "images"):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        if argv[0] == "up":
            install.up()
        elif argv[0] == "images":
            for line in ensure_gitops_images().lines():
                print(line)
        else:
            for line in install.status():
                print(line)
    except (GitopsError, ImageError) as error:
        print(error, file=sys.stderr)
        return 1
    except Exception as exc:  # kubectl, helm, ctr, the database: their own message, one line
        print(f"gitops {argv[0]}: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
