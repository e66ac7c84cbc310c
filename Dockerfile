# syntax=docker/dockerfile:1
# The wax controller image: `docker build -t wax-controller .`
#
# Runtime base: node:20-bookworm-slim with gnupg, not distroless nodejs20. The PGP
# provider runs the `gpg` binary (as sops does), and distroless has no gpg and no package
# manager to add it; without gpg, PGP master keys (GNUPGHOME / WAX_PGP_KEY_FILE) could not
# be used in the cluster. The image stays small (no npm/yarn caches, dev dependencies
# pruned, apt lists removed) and runs as 65532 with a read-only root filesystem.

FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build \
 && npm prune --omit=dev \
 && rm -rf build/test build/bench

FROM node:20-bookworm-slim
# npm and yarn are not needed at run time: fewer binaries, fewer CVEs to triage.
RUN apt-get update \
 && apt-get install -y --no-install-recommends gnupg \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin nonroot \
 && rm -rf /usr/local/lib/node_modules/npm /usr/local/bin/npm /usr/local/bin/npx /opt/yarn* /usr/local/bin/yarn /usr/local/bin/yarnpkg
ENV NODE_ENV=production \
    HOME=/tmp
WORKDIR /app
COPY --from=build --chown=0:0 /src/package.json ./package.json
COPY --from=build --chown=0:0 /src/node_modules ./node_modules
COPY --from=build --chown=0:0 /src/build ./build
COPY --from=build --chown=0:0 /src/dist ./dist
USER 65532:65532
EXPOSE 8080 8081
ENTRYPOINT ["node", "build/controller/main.js"]
