# leix: one image, several roles (LEIX_ROLE=serve | gateway | worker).
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src ./src
COPY schemas ./schemas
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
ENV NODE_ENV=production LEIX_DIST=1 HOST=0.0.0.0 PORT=8080
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
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
RUN ! find /app -name '*.private.jwk.json' | grep -q .
USER node
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --retries=3 CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||8080)+'/health/live').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
ENTRYPOINT ["node", "bin/leix.js"]
CMD ["serve"]
