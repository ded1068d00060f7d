/**
 * The launcher behind `npm run dev` / `npm start` (see docs/architecture.md, "Data rules", "Demo mode").
 * Before Next starts it:
 *  - with neither DATABASE_URL nor SUPABASE_URL: starts the embedded Postgres (data in
 *    .data/postgres, git-ignored) and hands Next its DATABASE_URL;
 *  - with a Postgres URL: applies supabase/migrations;
 *  - with no WHOP_API_KEY: asks for demo mode (REFERLY_DEMO=1, said in one line), starts
 *    the local Whop sandbox, generates the user token key pair, webhook and hash secrets,
 *    and seeds supabase/seed.sql and the demo history.
 * `launch()` is also what the tests use to run the app.
 */
import { spawn, type ChildProcess } from "node:child_process";
import nextEnv from "@next/env";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { EmbeddedSetupError, startEmbedded, type EmbeddedDb } from "./db/embedded";
import { migrate, runSqlFile, UnknownMigrationsError } from "./db/migrate";
import { DEMO_APP_ID } from "./env";
import { demoSandboxState, generateUserTokenKeys } from "./demo";
import { seedDemoHistory } from "./demo/history";
import { startWhopSandbox, type Sandbox } from "./demo/sandbox";

export interface LaunchOptions {
  mode: "dev" | "start";
  port: number;
  /** environment for Next (default process.env) */
  env?: NodeJS.ProcessEnv;
  /** embedded Postgres folder (default .data/postgres) */
  dataDir?: string;
  /** keep the embedded data after stop (default true) */
  persistent?: boolean;
  quiet?: boolean;
}

export interface Launched {
  url: string;
  databaseUrl: string | undefined;
  sandbox: Sandbox | undefined;
  env: NodeJS.ProcessEnv;
  stop(): Promise<void>;
}

export async function launch(opts: LaunchOptions): Promise<Launched> {
  const env: NodeJS.ProcessEnv = { ...(opts.env ?? process.env) };
  const url = `http://localhost:${opts.port}`;
  let embedded: EmbeddedDb | undefined;
  let sandbox: Sandbox | undefined;
  const log = (m: string) => opts.quiet || console.log(`[referly] ${m}`);

  if (!env.DATABASE_URL && !(env.SUPABASE_URL && env.SUPABASE_SERVICE_ROLE_KEY)) {
    const dir = opts.dataDir ?? path.join(process.cwd(), ".data", "postgres");
    embedded = await startEmbedded({ dir, persistent: opts.persistent ?? true });
    await embedded.createDatabase("referly");
    env.DATABASE_URL = embedded.url("referly");
    log(`embedded Postgres running (data in ${path.relative(process.cwd(), dir)})`);
  }
  if (env.DATABASE_URL) {
    let applied: string[];
    try {
      applied = await migrate(env.DATABASE_URL);
    } catch (err) {
      // the embedded database holds demo data only: one made before the migrations were
      // squashed is rebuilt from the baseline; any other database is left to its operator
      if (!(embedded && err instanceof UnknownMigrationsError)) throw err;
      log(`the demo database predates the current migrations (${err.versions.length} old versions): rebuilding it`);
      await embedded.dropDatabase("referly");
      await embedded.createDatabase("referly");
      applied = await migrate(env.DATABASE_URL);
    }
    if (applied.length) log(`applied migrations ${applied.join(", ")}`);
  }

  if (!env.WHOP_API_KEY) {
    env.APP_URL ??= url;
    sandbox = await startWhopSandbox(demoSandboxState(env.APP_URL));
    const keys = await generateUserTokenKeys();
    Object.assign(env, {
      REFERLY_DEMO: "1",
      NEXT_PUBLIC_WHOP_APP_ID: env.NEXT_PUBLIC_WHOP_APP_ID ?? DEMO_APP_ID,
      WHOP_BASE_URL: sandbox.apiUrl,
      WHOP_USER_TOKEN_PUBLIC_KEY: keys.publicJwk,
      DEMO_USER_TOKEN_PRIVATE_KEY: keys.privateJwk,
      WHOP_WEBHOOK_SECRET: env.WHOP_WEBHOOK_SECRET ?? `ws_demo_${randomBytes(16).toString("hex")}`,
      REFERLY_HASH_SECRET: env.REFERLY_HASH_SECRET ?? randomBytes(32).toString("hex"),
    });
    if (env.DATABASE_URL) {
      await runSqlFile(env.DATABASE_URL, path.join(process.cwd(), "supabase", "seed.sql"));
      const history = await seedDemoHistory(env.DATABASE_URL);
      if (history.seeded) log("demo history seeded (six months)");
      else if (history.reason !== "already seeded") log(`demo history skipped: ${history.reason}`);
    }
    log(`demo mode (no WHOP_API_KEY, so REFERLY_DEMO=1): Whop sandbox at ${sandbox.url}, demo data seeded`);
  }

  const nextBin = path.join(process.cwd(), "node_modules", "next", "dist", "bin", "next");
  const child: ChildProcess = spawn(process.execPath, [nextBin, opts.mode, "-p", String(opts.port)], {
    env: { NEXT_TELEMETRY_DISABLED: "1", ...env, PORT: String(opts.port) },
    stdio: opts.quiet ? ["ignore", "pipe", "pipe"] : "inherit",
  });
  let output = "";
  child.stdout?.on("data", (d) => (output = (output + d).slice(-20_000)));
  child.stderr?.on("data", (d) => (output = (output + d).slice(-20_000)));

  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    await sandbox?.close();
    await embedded?.stop();
  };

  // ready when Next answers
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`next ${opts.mode} exited with ${child.exitCode}\n${output}`);
    }
    try {
      await fetch(`http://127.0.0.1:${opts.port}/discover`, { signal: AbortSignal.timeout(5000) });
      break;
    } catch {
      if (Date.now() > deadline) {
        await stop();
        throw new Error(`next ${opts.mode} did not answer within 120 s\n${output}`);
      }
      await new Promise((r) => setTimeout(r, 300));
    }
  }
  log(`ready on ${url}`);
  return { url, databaseUrl: env.DATABASE_URL, sandbox, env, stop };
}

// `tsx lib/launch.ts dev|start`
if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(import.meta.filename ?? "")) {
  const mode = process.argv[2] === "start" ? "start" : "dev";
  // read .env / .env.local the way Next will, so demo mode is decided on the same values
  nextEnv.loadEnvConfig(process.cwd(), mode === "dev");
  const port = Number(process.env.PORT ?? 3000);
  const app = await launch({ mode, port }).catch((err: unknown) => {
    if (!(err instanceof EmbeddedSetupError)) throw err;
    console.error(`[referly] ${err.message}`); // a setup problem: one line, no stack trace
    process.exit(1);
  });
  console.log(`\n  Referly is running: ${app.url}${app.sandbox ? "  (demo mode: open it and pick who to view as)" : ""}\n`);
  const shutdown = async () => {
    await app.stop();
    process.exit(0);
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);
}
