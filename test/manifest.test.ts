import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { HANDLED_EVENTS } from "../lib/webhooks";

const manifest = JSON.parse(readFileSync(path.join(process.cwd(), "whop.config.json"), "utf8"));

describe("whop.config.json stays honest", () => {
  it("every subscribed event has a handler", () => {
    expect(manifest.webhook.events.length).toBeGreaterThan(0);
    for (const event of manifest.webhook.events) expect(HANDLED_EVENTS, event).toContain(event);
  });

  it("every path has a page and the webhook path a route", () => {
    for (const p of Object.values(manifest.paths) as string[]) {
      expect(existsSync(path.join(process.cwd(), "app", p, "page.tsx")), p).toBe(true);
    }
    expect(existsSync(path.join(process.cwd(), "app", manifest.webhook.path, "route.ts"))).toBe(true);
  });
});
