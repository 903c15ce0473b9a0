# Python sandbox image for users with a registry. `npm run setup` builds the same image offline
# (scripts/build-sandbox-images.sh: debootstrap + docker import); keep the package list and the
# matplotlib font-cache step in step with scripts/sandbox-images.conf and that script.
#   docker build -f docker/sandbox-python.Dockerfile -t code-sandbox-python:5 docker
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      python3 python3-pip python3-numpy python3-pandas python3-matplotlib python3-requests \
      python3-ipykernel python3-jupyter-client python3-matplotlib-inline \
 && rm -rf /var/lib/apt/lists/* \
 && MPLCONFIGDIR=/usr/share/code-sandbox/matplotlib MPLBACKEND=Agg python3 -c 'import matplotlib.pyplot'
ENV LANG=C.UTF-8
USER 65534:65534
WORKDIR /work
