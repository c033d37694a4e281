"""Route modules, one per domain."""

# Every versioned route's prefix. Routers carry it themselves (not an enclosing router), so each route's own
# path is its full template: the metrics and access logs label requests with it.
API_PREFIX = "/api/v1"
