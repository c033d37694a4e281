"""The test harness: real PostgreSQL, gunicorn, SMTP, JWKS and OTLP servers, the Kubernetes tools and control plane,
and helpers that drive the API. Imported by the tests, the load tests and the operator tests; shipped in no image."""
