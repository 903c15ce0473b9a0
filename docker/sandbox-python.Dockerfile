# Python sandbox image for users with a registry. `npm run setup` builds the same image offline
# (scripts/build-sandbox-images.sh: debootstrap + docker import); keep the package lists in step with
# scripts/sandbox-images.conf.
#   docker build -f docker/sandbox-python.Dockerfile -t code-sandbox-python:1 docker
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8
USER 65534:65534
WORKDIR /work
