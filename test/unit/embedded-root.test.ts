/**
 * `npm run dev` as root from a private folder (a clone in /root, as in a container): the
 * embedded Postgres runs as the OS user "postgres", which cannot reach a data folder (or
 * binaries) under a mode-700 folder. lib/db/embedded.ts moves what it cannot reach.
 */
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { startEmbedded } from "../../lib/db/embedded";

const isRoot = process.getuid?.() === 0;

describe("embedded Postgres started by root", () => {
  it.skipIf(!isRoot)(
    "runs with its data inside a private (mode 700) folder [skipped unless running as root]",
    async () => {
      const home = mkdtempSync(path.join(tmpdir(), "referly-private-home-"));
      chmodSync(home, 0o700);
      try {
        const db = await startEmbedded({ dir: path.join(home, "referly", ".data", "postgres"), persistent: false });
        try {
          const client = new pg.Client({ connectionString: db.url("postgres") });
          await client.connect();
          try {
            expect((await client.query("select 1 as one")).rows).toEqual([{ one: 1 }]);
          } finally {
            await client.end();
          }
        } finally {
          await db.stop();
        }
      } finally {
        rmSync(home, { recursive: true, force: true });
      }
    },
    120_000,
  );
});
