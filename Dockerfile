# One image for every cityops service; docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md ./
COPY streams ./streams
COPY detectors ./detectors
COPY dispatch ./dispatch
COPY dashboard ./dashboard
COPY cityops ./cityops
RUN pip install --no-cache-dir .
ENV CITYOPS_VAR=/var/lib/cityops PYTHONUNBUFFERED=1
VOLUME /var/lib/cityops
ENTRYPOINT ["cityops"]
