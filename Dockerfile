# npchat-relay as a FROM scratch image: the node binary, exactly the shared
# libraries it links, the one-file relay bundle, CA certificates and an
# unprivileged user. Nothing else: no shell, no package manager, no npm.
#
#   docker build -t npchat-relay .
#   docker run -p 8000:8000 npchat-relay
#   docker run -p 8000:8000 -e NPCHAT_REDIS_URL=redis://redis:6379 npchat-relay
#
# Configuration is by environment (NPCHAT_*, see the README). There is no
# HEALTHCHECK (scratch has no shell to run one): orchestrators probe
# GET /health (liveness) and GET /ready (readiness) over HTTP.
# The layout is the one `make rootfs` builds and `make rootfs-test` checks.

FROM node:20-bookworm-slim AS build
WORKDIR /src
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY src ./src
RUN npm run build && npm run bundle \
 && sh scripts/rootfs.sh /rootfs "$(command -v node)" dist/bundle

FROM scratch
COPY --from=build /rootfs/ /
USER 10001:10001
ENV NODE_ENV=production \
    NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt \
    NPCHAT_HOST=0.0.0.0 \
    NPCHAT_PORT=8000
WORKDIR /data
EXPOSE 8000
ENTRYPOINT ["/usr/local/bin/node", "/app/relay.mjs"]
