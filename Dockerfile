# lakehose in a container: docker build -t lakehose . && docker run -p 8088:8088 -v lakehose-data:/var/lib/lakehose lakehose
# The first start prints the "default" connector's API key once: docker logs <container>.
# Settings are LAKEHOSE_<SETTING> environment variables (see the README), e.g. -e LAKEHOSE_WORKERS=4.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    LAKEHOSE_DATA_DIR=/var/lib/lakehose \
    LAKEHOSE_HOST=0.0.0.0 \
    LAKEHOSE_PORT=8088 \
    LAKEHOSE_LOG_FORMAT=json

WORKDIR /opt/lakehose/src
COPY pyproject.toml requirements.lock README.md ./
COPY src ./src
# the pinned versions, in a virtualenv the unprivileged user cannot change
RUN python -m venv /opt/lakehose \
    && /opt/lakehose/bin/pip install --no-cache-dir -c requirements.lock . \
    && useradd --system --uid 10001 --home-dir /var/lib/lakehose --shell /usr/sbin/nologin lakehose \
    && mkdir -p /var/lib/lakehose \
    && chown lakehose:lakehose /var/lib/lakehose \
    && chmod 0700 /var/lib/lakehose

ENV PATH=/opt/lakehose/bin:$PATH
USER lakehose
VOLUME ["/var/lib/lakehose"]
EXPOSE 8088
# HEC's own health endpoint: 200 code 17 when healthy, 503 when queues or the disk are full
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8088/services/collector/health', timeout=2).status != 200)"]
# SIGTERM (docker stop) stops it cleanly within about a second
CMD ["lakehose", "serve"]
