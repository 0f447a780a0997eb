# Keycord service image. Node 22 (the service itself needs >= 20).
FROM node:22-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
COPY patches ./patches
# No dev tools in the image: skip the client SDK build (prepare), then apply our patches.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npx patch-package
COPY tsconfig.json ./
COPY src ./src
COPY commands ./commands
COPY migrations ./migrations
EXPOSE 3000
RUN mkdir -p /data && chown node:node /data
USER node
CMD ["npx", "tsx", "src/main.ts", "start"]
