/**
 * Starts what the tests run against, once:
 *  - a real Postgres: the embedded one (or DATABASE_URL's server when set), with three
 *    databases: `referly_sql` (SQL function tests), `referly_api` and `referly_demo`;
 *  - a local Whop stand-in (lib/demo/sandbox.ts) the real @whop/sdk is pointed at;
 *  - the built app (`next start`, built by `npm test`) twice through the same launcher
 *    as `npm start`: once with Whop credentials (tokens signed by a test ES256 key), once
 *    in demo mode for the browser test.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { freePort, startEmbedded, type EmbeddedDb } from "../lib/db/embedded";
import { migrate } from "../lib/db/migrate";
import { launch, type Launched } from "../lib/launch";
import { generateUserTokenKeys } from "../lib/demo";
import { startWhopSandbox, type Sandbox } from "../lib/demo/sandbox";

declare module "vitest" {
  export interface ProvidedContext {
    sqlDbUrl: string;
    apiDbUrl: string;
    demoDbUrl: string;
    apiUrl: string;
    demoUrl: string;
    sandboxUrl: string;
    userTokenPrivateKey: string;
    webhookSecret: string;
    hashSecret: string;
    appId: string;
  }
}

export const WEBHOOK_SECRET = "ws_test_0f1e2d3c4b5a69788796a5b4c3d2e1f0";
export const APP_ID = "app_referlytest";
/** the API server's REFERLY_HASH_SECRET, so tests can compute the hashes it stores */
export const HASH_SECRET = "hs_test_5e4d3c2b1a09f8e7d6c5b4a392817060";

/** The environment minus anything that would change which backend or mode the app picks. */
function baseEnv(): NodeJS.ProcessEnv {
  const e = { ...process.env };
  for (const k of Object.keys(e)) {
    if (/^(WHOP_|NEXT_PUBLIC_WHOP|SUPABASE_|DATABASE_URL|APP_URL|CRON_SECRET|DEMO_|REFERLY_)/.test(k)) delete e[k];
  }
  return e;
}

async function databases(names: string[]): Promise<{ urls: string[]; stop: () => Promise<void> }> {
  if (process.env.DATABASE_URL) {
    const base = new URL(process.env.DATABASE_URL);
    const client = new pg.Client({ connectionString: base.toString() });
    await client.connect();
    const urls: string[] = [];
    for (const n of names) {
      await client.query(`drop database if exists ${n} with (force)`);
      await client.query(`create database ${n}`);
      const u = new URL(base);
      u.pathname = `/${n}`;
      urls.push(u.toString());
    }
    await client.end();
    return { urls, stop: async () => {} };
  }
  const embedded: EmbeddedDb = await startEmbedded({
    dir: mkdtempSync(path.join(tmpdir(), "referly-test-pg-")),
    persistent: false,
  });
  for (const n of names) await embedded.createDatabase(n);
  return { urls: names.map((n) => embedded.url(n)), stop: () => embedded.stop() };
}

export default async function setup(project: TestProject) {
  const dbs = await databases(["referly_sql", "referly_api", "referly_demo"]);
  const [sqlDbUrl, apiDbUrl, demoDbUrl] = dbs.urls;
  await migrate(sqlDbUrl);

  const keys = await generateUserTokenKeys();
  const sandbox: Sandbox = await startWhopSandbox();
  const [apiPort, demoPort] = [await freePort(), await freePort()];
  const apiUrl = `http://localhost:${apiPort}`;

  let api: Launched | undefined;
  let demo: Launched | undefined;
  try {
    api = await launch({
      mode: "start",
      port: apiPort,
      quiet: true,
      env: {
        ...baseEnv(),
        DATABASE_URL: apiDbUrl,
        APP_URL: apiUrl,
        NEXT_PUBLIC_WHOP_APP_ID: APP_ID,
        WHOP_API_KEY: "test_api_key",
        WHOP_WEBHOOK_SECRET: WEBHOOK_SECRET,
        WHOP_BASE_URL: sandbox.apiUrl,
        WHOP_USER_TOKEN_PUBLIC_KEY: keys.publicJwk,
        CRON_SECRET: "cron_test_secret",
        REFERLY_HASH_SECRET: HASH_SECRET,
        // a stand-in told to answer late makes the SDK time out quickly
        WHOP_TIMEOUT_MS: "1500",
      },
    });
    demo = await launch({
      mode: "start",
      port: demoPort,
      quiet: true,
      env: { ...baseEnv(), DATABASE_URL: demoDbUrl },
    });
  } catch (err) {
    await api?.stop();
    await sandbox.close();
    await dbs.stop();
    throw err;
  }

  project.provide("sqlDbUrl", sqlDbUrl);
  project.provide("apiDbUrl", apiDbUrl);
  project.provide("demoDbUrl", demoDbUrl);
  project.provide("apiUrl", apiUrl);
  project.provide("demoUrl", demo.url);
  project.provide("sandboxUrl", sandbox.url);
  project.provide("userTokenPrivateKey", keys.privateJwk);
  project.provide("webhookSecret", WEBHOOK_SECRET);
  project.provide("hashSecret", HASH_SECRET);
  project.provide("appId", APP_ID);

  return async () => {
    await demo?.stop();
    await api?.stop();
    await sandbox.close();
    await dbs.stop();
  };
}
