# The code-sandbox service image (multi-stage). Build from the repository root:
#   docker build -f docker/service.Dockerfile -t code-sandbox-service .
# Without a registry, build the base offline first (scripts/build-service-base-image.sh, run by
# `npm run setup`) and pass it:  --build-arg NODE_IMAGE=code-sandbox-node-base:20.20.2
#
# The service starts sandboxes through dockerd, so it needs the host's Docker socket mounted, and
# access to it is root on the host: anyone who controls this process controls dockerd. It runs as an
# unprivileged uid (10001) and reaches the socket through the socket's group only (compose:
# group_add DOCKER_GID). Its work root must be bind-mounted at the same path as on the host.
ARG NODE_IMAGE=node:20-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund --loglevel=error
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund --loglevel=error

FROM ${NODE_IMAGE}
WORKDIR /app
ENV NODE_ENV=production \
    SANDBOX_HOST=0.0.0.0
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY proto ./proto
COPY sandbox-runtime ./sandbox-runtime
COPY seccomp ./seccomp
USER 10001:10001
EXPOSE 9385 50051
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.SANDBOX_HTTP_PORT||9385)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "dist/src/main.js"]
