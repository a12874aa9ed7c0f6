# syntax=docker/dockerfile:1
# Quittance: one image for the API (`serve`) and the job worker (`worker`), running the
# compiled build (`npm run build`: plain JavaScript in dist/app) on Node 24, the current LTS,
# with production dependencies only and no TypeScript loader.
# NOT BUILT ON THE DEVELOPMENT MACHINE (no Docker engine there); see README "Production shape".

ARG NODE_IMAGE=node:24-bookworm-slim

# Every workspace's package.json and the lockfile: what `npm ci` needs, cached apart from
# the sources.
FROM ${NODE_IMAGE} AS manifests
WORKDIR /app
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/cli/package.json apps/cli/
COPY packages/bundle/package.json packages/bundle/
COPY packages/bundle-store/package.json packages/bundle-store/
COPY packages/client/package.json packages/client/
COPY packages/db/package.json packages/db/
COPY packages/format/package.json packages/format/
COPY packages/jobs/package.json packages/jobs/
COPY packages/signer/package.json packages/signer/
COPY packages/tsp/package.json packages/tsp/
COPY packages/vault/package.json packages/vault/
COPY packages/verifier/package.json packages/verifier/
COPY packages/verifier-page/package.json packages/verifier-page/
COPY test/tooling/package.json test/tooling/
# The postgres.js guard (patches/, applied by patch-package on every install).
COPY patches ./patches

# The build: all dependencies (esbuild), then the sources bundled into dist/app.
FROM manifests AS build
RUN npm ci --no-audit --no-fund
COPY tsconfig.base.json ./
COPY scripts ./scripts
COPY migrations ./migrations
COPY apps ./apps
COPY packages ./packages
COPY test/tooling ./test/tooling
RUN npm run build

# What runs: production dependencies only (the bundle leaves third-party packages external).
FROM manifests AS deps
RUN npm ci --omit=dev --no-audit --no-fund

FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8787 QUITTANCE_DATA_DIR=/data QUITTANCE_SHUTDOWN_DELAY_MS=5000
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json ./
# dist/app holds the bundle, its source maps and the SQL migrations it applies at start.
COPY --from=build --chown=node:node /app/dist/app ./dist/app
# The auditor's verifier page, served at /verify.
COPY --from=build --chown=node:node /app/dist/verify.html ./dist/verify.html
# The data folder is scratch only (no keys, no bundles when QUITTANCE_BUNDLE_STORE and
# QUITTANCE_LOCAL_KEK or KMS are set): each container has its own.
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8787
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8787)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "--enable-source-maps", "dist/app/quittance.js"]
CMD ["serve"]
