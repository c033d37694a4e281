"""The Bosun operator: gates every AppRelease rollout on its migration Job (kopf handlers over a typed client)."""
