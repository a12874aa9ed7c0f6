# syntax=docker/dockerfile:1
# Quittance: one image for the API (`serve`) and the job worker (`worker`).
# NOT BUILT ON THE DEVELOPMENT MACHINE (no Docker engine there); see README "Production shape".

FROM node:20.20-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
COPY apps/api/package.json apps/api/
COPY apps/cli/package.json apps/cli/
COPY apps/worker/package.json apps/worker/
COPY packages/bundle/package.json packages/bundle/
COPY packages/client/package.json packages/client/
COPY packages/db/package.json packages/db/
COPY packages/format/package.json packages/format/
COPY packages/jobs/package.json packages/jobs/
COPY packages/signer/package.json packages/signer/
COPY packages/tsp/package.json packages/tsp/
COPY packages/vault/package.json packages/vault/
COPY packages/verifier/package.json packages/verifier/
COPY test/tooling/package.json test/tooling/
# The postgres.js guard (patches/, applied by patch-package on every install).
COPY patches ./patches
# Production dependencies only; the TypeScript sources run through tsx (a runtime dependency).
RUN npm ci --omit=dev --no-audit --no-fund

FROM node:20.20-bookworm-slim AS runtime
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8787 QUITTANCE_DATA_DIR=/data QUITTANCE_SHUTDOWN_DELAY_MS=5000
WORKDIR /app
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
COPY --chown=node:node package.json ./
COPY --chown=node:node apps ./apps
COPY --chown=node:node packages ./packages
COPY --chown=node:node migrations ./migrations
RUN rm -rf apps/*/test packages/*/test && mkdir -p /data && chown node:node /data
USER node
VOLUME ["/data"]
EXPOSE 8787
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8787)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "apps/cli/bin/quittance.js"]
CMD ["serve"]
