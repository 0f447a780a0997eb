# Keycord service image. Node 22 (see "engines" in package.json for the versions Keycord runs on).
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY patches ./patches
# No dev tools in the image: skip the client SDK build (prepare), then apply our patches.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npx patch-package && npm cache clean --force
COPY tsconfig.json ./
COPY bin ./bin
COPY src ./src
COPY commands ./commands
COPY migrations ./migrations
# A font for the words of the /stats chart (title, legend); without one its numbers and dates
# still draw (they are strokes), the words are left out.
RUN apt-get update && apt-get install -y --no-install-recommends fonts-dejavu-core && rm -rf /var/lib/apt/lists/*
# The embedded database, the generated secret (when KEYCORD_SECRET is unset) and uploaded files.
ENV DATA_DIR=/data
RUN mkdir -p /data && chown node:node /data
VOLUME /data
USER node
EXPOSE 3000
# 200 while the database answers (also when Redis is down: "degraded", the API still serves);
# 503 when it does not. The first start creates the embedded database: give it time.
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/api/health', { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself is PID 1 (no npm/npx/sh in between to swallow SIGTERM): bin/keycord.js loads the
# TypeScript in-process and handles SIGTERM from its first line, so `docker stop` runs the ordered
# shutdown. No init process is needed: Keycord starts no child processes, so none to reap.
CMD ["node", "bin/keycord.js", "start"]
