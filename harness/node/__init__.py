"""A real single-node Kubernetes cluster on this machine (`uv run poe cluster up | status | down`)."""
