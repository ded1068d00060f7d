import path from "node:path";
import { defineConfig } from "vitest/config";

export default defineConfig({
  resolve: { alias: { "@": path.resolve(import.meta.dirname) } },
  test: {
    include: ["test/**/*.test.ts"],
    globalSetup: ["test/global-setup.ts"],
    // one Postgres, one app server and one Whop stand-in are shared: run files one by one
    fileParallelism: false,
    testTimeout: 30_000,
    hookTimeout: 180_000,
  },
});
