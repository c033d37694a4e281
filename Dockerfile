# syntax=docker/dockerfile:1
# Targets: `runtime` (the service, default), `operator` (bosun-operator, for the operator chart) and `loadtest`
# (locust with loadtests/, for the staging load-test Job).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app/.venv \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN pip install --no-cache-dir uv==0.13.8
WORKDIR /app
# Runtime dependencies only (no dev or loadtest group); first, so this layer survives code changes.
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-default-groups --no-install-project
COPY app ./app
COPY migrations ./migrations
COPY operator ./operator
RUN uv sync --locked --no-default-groups

FROM build AS operator-build
RUN uv sync --locked --no-default-groups --group operator

FROM build AS loadtest-build
COPY loadtests ./loadtests
RUN uv sync --locked --no-default-groups --group loadtest

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
EXPOSE 8080 9110
ENTRYPOINT ["bosun-operator"]
CMD ["--standalone", "--all-namespaces"]

FROM runtime AS loadtest
COPY --from=loadtest-build /app /app
ENTRYPOINT ["locust", "--locustfile", "loadtests/locustfile.py"]
