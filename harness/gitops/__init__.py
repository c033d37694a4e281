"""Argo CD on the single-node cluster: its images, its install, the served Git repository (`uv run poe gitops`)."""
