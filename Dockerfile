# syntax=docker/dockerfile:1
# Targets: `runtime` (the service, default), `operator` (bosun-operator, for the operator chart) and `loadtest`
# (locust with loadtests/, for the staging load-test Job).
# PYTHON_IMAGE: the official image, or any Debian bookworm root filesystem with python3 and python3-venv (what
# `uv run poe images` builds where no registry is reachable).
# A machine whose TLS to the package registries needs its own CA bundle passes it as the build secret `ca-bundle`
# (never a layer): `--secret id=ca-bundle,src=/etc/ssl/certs/ca-certificates.crt`.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS uv
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    SSL_CERT_FILE=/run/secrets/ca-bundle
# uv in a virtualenv of its own: Debian's python3 refuses `pip install` into the system (PEP 668). uv ignores
# SSL_CERT_FILE when no secret is mounted there; pip does not, hence the test.
RUN --mount=type=secret,id=ca-bundle \
    if [ -s /run/secrets/ca-bundle ]; then export PIP_CERT=/run/secrets/ca-bundle; else unset SSL_CERT_FILE; fi \
    && python3 -m venv /opt/uv \
    && /opt/uv/bin/pip install --no-cache-dir uv==0.13.8
ENV PATH=/opt/uv/bin:$PATH
WORKDIR /app
# README.md is only the package's description: an empty one keeps documentation edits from rebuilding the image.
COPY pyproject.toml uv.lock ./

FROM uv AS build
# Runtime dependencies only (no dev or loadtest group); first, so this layer survives code changes.
RUN --mount=type=secret,id=ca-bundle touch README.md && uv sync --locked --no-default-groups --no-install-project
COPY app ./app
COPY migrations ./migrations
COPY operator ./operator
RUN --mount=type=secret,id=ca-bundle uv sync --locked --no-default-groups

# The operator needs the settings model and its own package, not the service's dependencies (FastAPI, SQLAlchemy,
# gunicorn, ...): only the `operator` group, then the project itself without dependencies (its entry points).
FROM uv AS operator-build
RUN --mount=type=secret,id=ca-bundle touch README.md && uv sync --locked --only-group operator --no-install-project
COPY app/__init__.py ./app/
COPY app/core/__init__.py app/core/config.py ./app/core/
COPY operator/bosun_operator ./operator/bosun_operator
RUN --mount=type=secret,id=ca-bundle uv pip install --python /app/.venv --no-deps --editable .

FROM build AS loadtest-build
COPY loadtests ./loadtests
RUN --mount=type=secret,id=ca-bundle uv sync --locked --no-default-groups --group loadtest

FROM ${PYTHON_IMAGE} AS runtime
# Read-only root filesystem: the only writable place is /tmp (an emptyDir in Kubernetes).
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    ENVIRONMENT=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    METRICS_PORT=9100 \
    PROMETHEUS_MULTIPROC_DIR=/tmp/bosun-metrics
RUN groupadd --system --gid 10001 bosun \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin bosun
WORKDIR /app
COPY --from=build /app /app
USER 10001:10001
EXPOSE 8000 9100
ENTRYPOINT ["gunicorn", "--config", "python:app.gunicorn_conf", "app.main:create_app()"]

FROM ${PYTHON_IMAGE} AS operator
ENV PATH=/app/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOME=/tmp \
    METRICS_PORT=9110
RUN groupadd --system --gid 10001 bosun \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin bosun
WORKDIR /app
COPY --from=operator-build /app /app
USER 10001:10001
EXPOSE 8080 9110 9443
ENTRYPOINT ["bosun-operator"]
CMD ["--standalone", "--all-namespaces"]

FROM runtime AS loadtest
COPY --from=loadtest-build /app /app
ENTRYPOINT ["locust", "--locustfile", "loadtests/locustfile.py"]
