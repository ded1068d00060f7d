/**
 * Demo mode only when asked for (lib/env.ts): the launcher asks with
 * REFERLY_DEMO=1 when there is no WHOP_API_KEY; any other start with no key refuses to run,
 * and real credentials always win.
 */
import { afterEach, describe, expect, it, vi } from "vitest";

const saved = { ...process.env };
afterEach(() => {
  process.env = { ...saved };
  vi.resetModules();
});

/** env() of a fresh module (it caches), under exactly these variables. */
async function envWith(vars: Record<string, string>) {
  for (const k of Object.keys(process.env)) if (/^(WHOP_|NEXT_PUBLIC_WHOP|REFERLY_)/.test(k)) delete process.env[k];
  Object.assign(process.env, vars);
  vi.resetModules();
  const { env } = await import("../../lib/env");
  return () => env();
}

describe("demo mode", () => {
  it("no WHOP_API_KEY and no REFERLY_DEMO: refuses to run, saying what to set", async () => {
    const env = await envWith({});
    expect(env).toThrow(/WHOP_API_KEY is not set.*REFERLY_DEMO=1/);
  });

  it("also in production: NODE_ENV=production with no key is not a demo", async () => {
    const env = await envWith({ NODE_ENV: "production" });
    expect(env).toThrow(/WHOP_API_KEY is not set/);
  });

  it("REFERLY_DEMO=1 with no key: the demo", async () => {
    const env = await envWith({ REFERLY_DEMO: "1", NODE_ENV: "production" });
    expect(env()).toMatchObject({ demo: true, appId: "app_referly_demo" });
  });

  it("real credentials win over REFERLY_DEMO=1: no demo", async () => {
    const env = await envWith({ REFERLY_DEMO: "1", WHOP_API_KEY: "key_live", NEXT_PUBLIC_WHOP_APP_ID: "app_live" });
    expect(env()).toMatchObject({ demo: false, appId: "app_live" });
  });

  it("a hash secret shorter than 32 characters is refused", async () => {
    const env = await envWith({ REFERLY_DEMO: "1", REFERLY_HASH_SECRET: "short" });
    expect(env).toThrow(/REFERLY_HASH_SECRET: needs 32\+ characters/);
  });
});
