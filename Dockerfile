# syntax=docker/dockerfile:1
# Load generator image: Locust with the loadtest plugin installed, scenarios in /app/scenarios.
#   docker build -t loadtest-ws .                                   # x86_64 or arm64 (aarch64) host
#   docker buildx build --platform linux/arm64 -t loadtest-ws .     # arm64 from an x86_64 host (QEMU)
#   docker run --rm --ulimit nofile=65536:65536 loadtest-ws -f /app/scenarios/echo.py --headless -u 10 -t 30s
# The embedded target in the same image: docker run --rm -p 8765:8765 --entrypoint loadtest loadtest-ws serve --host 0.0.0.0
#
# Debian bookworm, pinned: the build steps were tested on bookworm (gcc 12, glibc 2.36), and every
# dependency's arm64 wheel was checked against glibc 2.36 (docs/distributed.md).

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# A C compiler for hdrhistogram, which has no arm64 wheel and is built from its sdist on every
# architecture (scripts/install-image.sh); this stage is thrown away, the runtime has no compiler.
RUN apt-get update \
    && apt-get install -y --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md ./
COPY loadtest ./loadtest
COPY scenarios ./scenarios
COPY scripts/install-image.sh ./scripts/install-image.sh
RUN ./scripts/install-image.sh /opt/venv /app /src

FROM python:3.11-slim-bookworm
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH
RUN groupadd --system --gid 10001 locust \
    && useradd --system --uid 10001 --gid locust --home-dir /app --shell /usr/sbin/nologin locust
COPY --from=build /opt/venv /opt/venv
COPY --from=build --chown=locust:locust /app /app
RUN install -d -o locust -g locust /app/reports
WORKDIR /app
USER 10001:10001
# 8089: Locust web UI; 5557: master <- workers (ZeroMQ); 8765: the embedded target (loadtest serve)
EXPOSE 8089 5557 8765
ENTRYPOINT ["locust"]
CMD ["-f", "/app/scenarios/echo.py"]
