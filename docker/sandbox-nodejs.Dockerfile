# Node.js sandbox image for users with a registry. `npm run setup` builds the same image offline
# (scripts/build-sandbox-images.sh: debootstrap + docker import from scripts/sandbox-images.conf).
#   docker build -f docker/sandbox-nodejs.Dockerfile -t code-sandbox-nodejs:3 docker
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends nodejs node-axios npm \
 && rm -rf /var/lib/apt/lists/*
ENV LANG=C.UTF-8
USER 65534:65534
WORKDIR /work
