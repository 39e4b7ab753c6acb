# Muse in a container. With docker-compose.yml the text model runs in its own server; this image
# holds the bot, the filters, the database and (when /draw is on) the image model.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /app
# The CPU build of torch keeps the image small; /draw and MUSE_TEXT_BACKEND=local run on it.
# On a GPU host, build with --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cu128.
ARG TORCH_INDEX=https://download.pytorch.org/whl/cpu
RUN pip install "torch==2.13.0" --index-url "$TORCH_INDEX"
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY generators ./generators
COPY moderation ./moderation
RUN pip install .
RUN useradd --create-home --uid 1000 muse && mkdir -p /data && chown muse /data
USER muse
# One database and one picture folder per Muse process: keep /data on a volume of its own.
ENV MUSE_DB_PATH=/data/muse.sqlite3 MUSE_IMAGE_DIR=/data/images HF_HOME=/data/hf
VOLUME ["/data"]
EXPOSE 9108
HEALTHCHECK --interval=30s --timeout=5s --start-period=120s \
  CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:9108/healthz', timeout=4)"
CMD ["muse", "run", "--metrics-port", "9108", "--metrics-host", "0.0.0.0"]
