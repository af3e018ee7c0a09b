# Multi-stage build; the runtime image runs as a non-root user and needs DATABASE_URL
# (the embedded PostgreSQL is for development and tests, not for containers).
FROM python:3.11-slim AS build
WORKDIR /src
RUN python -m venv /opt/cpis
COPY pyproject.toml README.md ./
COPY app ./app
RUN /opt/cpis/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/cpis/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --system --uid 10001 --home-dir /srv/cpis cpis
WORKDIR /srv/cpis
COPY --from=build /opt/cpis /opt/cpis
# Migrations are read from the source tree at run time (cpis migrate).
COPY --chown=root:root alembic.ini ./
COPY --chown=root:root migrations ./migrations
COPY --chown=root:root app ./app
ENV PATH=/opt/cpis/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CPIS_ENV=production \
    CPIS_HOST=0.0.0.0 \
    CPIS_DATA_DIR=/srv/cpis/data \
    PYTHONPATH=/srv/cpis
USER cpis
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz').status != 200)"
ENTRYPOINT ["cpis"]
CMD ["serve"]
