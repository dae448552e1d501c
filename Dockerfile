# audit-trail: a build stage that compiles TypeScript, then a slim runtime with production dependencies only.
# docker build -t audit-trail . && docker run -e DATABASE_URL=… -e REDIS_URL=… -p 3000:3000 audit-trail

FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json bundle.mjs ./
COPY src ./src
# Compile to dist/ and bundle the service's start-up file (npm run build), then drop the dev dependencies
# (TypeScript, esbuild, tsx, vitest, testcontainers, drizzle-kit).
RUN npx tsc -b tsconfig.build.json && node bundle.mjs \
 && npm prune --omit=dev --no-audit --no-fund

FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3000
WORKDIR /app
# Owned by root and read-only to the service: it writes nothing of its own to disk (exports go to the temp dir).
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
# Migrations are applied at start-up; the shipped rules are the default RULES_DIR (mount your own over /app/rules).
COPY drizzle ./drizzle
COPY rules ./rules
USER node
EXPOSE 3000
# Ready means Postgres and Redis answer; Node 20's fetch needs no curl or wget in the image.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/readyz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
# node itself, not npm: SIGTERM from `docker stop` reaches the service, which drains and exits 0.
CMD ["node", "dist/main.js"]
