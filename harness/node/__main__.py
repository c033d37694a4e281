"""`uv run poe cluster up | status | down`: a real single-node Kubernetes cluster on this machine (root)."""

import sys

from harness.node.cluster import ClusterError, down, status, summary, up

USAGE = "usage: poe cluster up | status | down"


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("up", "status", "down"):
        print(USAGE, file=sys.stderr)
        return 2
    try:
        if argv[0] == "up":
            cluster = up()
            print("\n".join(summary(cluster)))
        elif argv[0] == "down":
            down()
            print("cluster: down")
        else:
            print("\n".join(status()))
    except ClusterError as exc:
        print(exc, file=sys.stderr)
        return 1
    except Exception as exc:  # a command of the machine's (ip, iptables, ctr, kubectl), a file, the database
        print(f"cluster {argv[0]}: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
