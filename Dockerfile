# leix: one image, several roles (LEIX_ROLE=serve | gateway | worker). Node.js 24 (LTS); the
# image runs the compiled build (dist/) with the production dependencies only: no TypeScript,
# no tsx, no esbuild.
FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY schemas ./schemas
RUN npm run build

FROM node:24-bookworm-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund

FROM node:24-bookworm-slim
ENV NODE_ENV=production LEIX_DIST=1 HOST=0.0.0.0 PORT=8080
WORKDIR /app
COPY --from=deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# tsc copies no .sql: the compiled build reads the migrations from src/store/migrations (src/store/migrations.ts).
COPY --from=build /app/src/store/migrations ./src/store/migrations
# Nor the console's static files: the compiled build serves them from src/console/static.
COPY --from=build /app/src/console/static ./src/console/static
COPY package.json ./
COPY bin ./bin
COPY schemas ./schemas
# Sample directory only: .dockerignore keeps the development keys and every private key out of the image.
COPY config ./config
RUN ! find /app -name '*.private.jwk.json' | grep -q . && ! test -e /app/node_modules/tsx
# Unprivileged (uid 1000 of the base image): the files above stay root-owned and read-only to it.
USER node
EXPOSE 8080
# The operations listener (plain HTTP on loopback, in every role): works for workers and with TLS on the API port.
HEALTHCHECK --interval=10s --timeout=5s --retries=3 CMD ["node", "bin/leix.js", "health"]
ENTRYPOINT ["node", "bin/leix.js"]
CMD ["serve"]
