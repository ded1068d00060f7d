/**
 * GET /r/CODE against the running app: the click is recorded in Postgres, the checkout
 * is created at the Whop stand-in through the real @whop/sdk, and the redirect target
 * only ever comes from Whop or the creator's settings.
 */
import { randomInt } from "node:crypto";
import { afterEach, describe, expect, inject, it } from "vitest";
import type { SandboxState } from "../../lib/demo/sandbox";
import {
  apiCodeFor as codeFor,
  apiRows as rows,
  apiSettings as settings,
  ids,
  uid,
  whopRequests,
  whopState,
} from "../helpers";

const CHROME =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const GOOGLEBOT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";

/** A fresh visitor: a documentation-range IP unique enough per test. */
const visitorIp = () => `203.0.113.${randomInt(1, 255)}, 10.0.${randomInt(0, 255)}.${randomInt(1, 255)}`;

function visit(path: string, o: { ip?: string; ua?: string; referer?: string } = {}) {
  const headers: Record<string, string> = {
    "user-agent": o.ua ?? CHROME,
    "x-forwarded-for": o.ip ?? visitorIp(),
    accept: "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "accept-language": "en-US,en;q=0.9",
  };
  if (o.referer) headers.referer = o.referer;
  return fetch(`${inject("apiUrl")}${path}`, { redirect: "manual", headers });
}

async function clicksOf(code: string) {
  return rows(
    `select k.* from public.referral_clicks k join public.referral_codes c on c.id = k.code_id
     where c.code = $1 order by k.created_at, k.id`,
    [code],
  );
}

async function checkoutRequestsFor(code: string) {
  return (await whopRequests()).filter(
    (q) => q.method === "POST" && q.path === "/checkout_configurations" && q.body?.metadata?.referral_code === code,
  );
}

const FAIL_KEY = "POST /checkout_configurations";
afterEach(async () => {
  // a null entry removes the failure from the stand-in
  await whopState({ fail: { [FAIL_KEY]: null } } as unknown as Partial<SandboxState>);
});

describe("GET /r/CODE with a plan: Whop checkout", () => {
  it("302 to the stand-in's purchase_url for a checkout with plan_id and {referral_code, click_id}; cookie set; click counted", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const planId = `plan_${uid()}`;
    await settings(c.company, { plan_id: planId, landing_url: "https://landing.example/join" });

    const res = await visit(`/r/${code}`, { referer: "https://twitter.com/alice/status/1" });
    expect(res.status).toBe(302);
    const location = res.headers.get("location")!;
    expect(location).toMatch(/^https:\/\/whop\.com\/checkout\/ch_[0-9a-f]{16}$/);

    const clicks = await clicksOf(code);
    expect(clicks).toHaveLength(1);
    const click = clicks[0];
    expect(click).toMatchObject({
      company_id: c.company,
      counted: true,
      is_bot: false,
      converted: false,
      user_agent: CHROME,
      referrer_url: "https://twitter.com/alice/status/1",
    });
    expect(click.visitor_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(click.visitor_hash).not.toContain("203.0.113");

    const sent = await checkoutRequestsFor(code);
    expect(sent).toHaveLength(1);
    expect(sent[0].body).toEqual({ plan_id: planId, metadata: { referral_code: code, click_id: click.id } });

    // the Location is exactly the checkout the stand-in created for this click
    const checkoutId = location.split("/").pop();
    const config = await (await fetch(`${inject("sandboxUrl")}/api/v1/checkout_configurations/${checkoutId}`)).json();
    expect(config).toMatchObject({ purchase_url: location, plan: { id: planId }, metadata: { referral_code: code, click_id: click.id } });

    const cookie = res.headers.get("set-cookie") ?? "";
    expect(cookie).toContain(`referly_ref=${code}.${click.id}`);
    expect(cookie).toMatch(/Max-Age=7776000/i);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/SameSite=lax/i);
    expect(cookie).toMatch(/Path=\//i);
  });

  it("the same visitor again within the hour → still 302, stored but not counted", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await settings(c.company, { plan_id: `plan_${uid()}` });
    const ip = visitorIp();

    const first = await visit(`/r/${code}`, { ip });
    const second = await visit(`/r/${code}`, { ip });
    expect(first.status).toBe(302);
    expect(second.status).toBe(302);
    expect(second.headers.get("location")).toMatch(/^https:\/\/whop\.com\/checkout\/ch_/);

    const clicks = await clicksOf(code);
    expect(clicks.map((k) => k.counted)).toEqual([true, false]);
    expect(clicks[0].visitor_hash).toBe(clicks[1].visitor_hash);
    // one checkout for the visitor: made for the counted click, reused by the repeat
    const sent = await checkoutRequestsFor(code);
    expect(sent.map((q) => q.body.metadata.click_id)).toEqual([clicks[0].id]);
    expect(second.headers.get("location")).toBe(first.headers.get("location"));
    expect(clicks[0].checkout_url).toBe(first.headers.get("location"));
    // both cookies carry the counted click
    for (const r of [first, second]) expect(r.headers.get("set-cookie")).toContain(`referly_ref=${code}.${clicks[0].id}`);

    // another visitor is counted
    const other = await visit(`/r/${code}`, { ip: "192.0.2.77" });
    expect(other.status).toBe(302);
    expect((await clicksOf(code)).filter((k) => k.counted)).toHaveLength(2);
  });

  it("10 concurrent clicks of one visitor count once", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await settings(c.company, { landing_url: "https://landing.example/join" });
    const ip = visitorIp();

    const answers = await Promise.all(Array.from({ length: 10 }, () => visit(`/r/${code}`, { ip })));
    expect(answers.map((a) => a.status)).toEqual(Array(10).fill(302));
    const clicks = await clicksOf(code);
    expect(clicks).toHaveLength(10);
    expect(clicks.filter((k) => k.counted)).toHaveLength(1);
  });

  it("a bot user agent (Googlebot) is redirected but not counted", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await settings(c.company, { plan_id: `plan_${uid()}` });

    const res = await visit(`/r/${code}`, { ua: GOOGLEBOT });
    // no checkout for a crawler; with no landing URL or store page, a plain page
    expect(res.status).toBe(200);
    expect(await res.text()).toContain("A referral link to a Whop community");
    expect(await checkoutRequestsFor(code)).toEqual([]);
    const clicks = await clicksOf(code);
    expect(clicks).toHaveLength(1);
    expect(clicks[0]).toMatchObject({ is_bot: true, counted: false, user_agent: GOOGLEBOT, checkout_url: null });
  });

  it("more than 30 clicks a minute from one visitor → 429 page with Retry-After, nothing recorded", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await settings(c.company, { landing_url: "https://landing.example/join" });
    const ip = `198.51.100.${randomInt(1, 255)}`;
    const answers = [];
    for (let i = 0; i < 31; i++) answers.push(await visit(`/r/${code}`, { ip }));
    expect(answers.slice(0, 30).map((a) => a.status)).toEqual(Array(30).fill(302));
    const limited = answers[30];
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThanOrEqual(1);
    expect(limited.headers.get("location")).toBeNull();
    expect(await limited.text()).toContain("Slow down a little");
    expect(await clicksOf(code)).toHaveLength(30);
    // another visitor on another network is not held back
    expect((await visit(`/r/${code}`, { ip: `192.0.2.${randomInt(1, 255)}` })).status).toBe(302);
  });

  it("more than 300 clicks a minute from one /24 network (many addresses) → 429", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await settings(c.company, { landing_url: "https://landing.example/join" });
    const net = `100.64.${randomInt(0, 255)}`;
    const statuses: number[] = [];
    for (let i = 0; i < 302; i++) {
      // 11 visitors (user agents) per address, so no single visitor reaches its own limit
      statuses.push((await visit(`/r/${code}`, { ip: `${net}.${1 + (i % 250)}`, ua: `${CHROME} v${i % 11}` })).status);
    }
    expect(statuses.slice(0, 300).every((s) => s === 302)).toBe(true);
    expect(statuses.slice(300)).toEqual([429, 429]);
    expect(await clicksOf(code)).toHaveLength(300);
  });

  it("the code lookup is case-insensitive and the checkout carries the canonical code", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const planId = `plan_${uid()}`;
    await settings(c.company, { plan_id: planId });
    expect(code).not.toBe(code.toLowerCase());

    const res = await visit(`/r/${code.toLowerCase()}`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toMatch(/^https:\/\/whop\.com\/checkout\/ch_/);
    const clicks = await clicksOf(code);
    expect(clicks).toHaveLength(1);
    expect(clicks[0].counted).toBe(true);
    const sent = await checkoutRequestsFor(code);
    expect(sent).toHaveLength(1);
    expect(sent[0].body).toEqual({ plan_id: planId, metadata: { referral_code: code, click_id: clicks[0].id } });
  });
});

describe("GET /r/CODE: never an open redirect", () => {
  it("an unknown code → 404 friendly HTML page, no Location", async () => {
    const res = await visit(`/r/NOPE${uid().toUpperCase()}`);
    expect(res.status).toBe(404);
    expect(res.headers.get("location")).toBeNull();
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).toContain("This referral link doesn't exist");
  });

  it("an inactive code → 404, no Location, click not recorded", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await settings(c.company, { plan_id: `plan_${uid()}`, landing_url: "https://landing.example/" });
    await rows(`update public.referral_codes set is_active = false where code = $1`, [code]);

    const res = await visit(`/r/${code}`);
    expect(res.status).toBe(404);
    expect(res.headers.get("location")).toBeNull();
    expect(await clicksOf(code)).toHaveLength(0);
  });

  it("a code with illegal characters (/r/%2F%2Fevil.com) → 404, no Location", async () => {
    for (const path of ["/r/%2F%2Fevil.com", "/r/%2F%2Fevil.com%2F", "/r/https%3A%2F%2Fevil.com", "/r/a%20b%3Cscript%3E"]) {
      const res = await visit(path);
      expect(res.status, path).toBe(404);
      expect(res.headers.get("location"), path).toBeNull();
      expect(await res.text(), path).not.toMatch(/<script>/);
    }
  });

  it("?next=https://evil.example never changes the Location", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await settings(c.company, { landing_url: "https://landing.example/join?utm=ref" });

    for (const q of ["?next=https://evil.example", "?redirect=https%3A%2F%2Fevil.example&url=//evil.example", "?ref=EVIL"]) {
      const res = await visit(`/r/${code}${q}`);
      expect(res.status, q).toBe(302);
      expect(res.headers.get("location"), q).toBe(`https://landing.example/join?utm=ref&ref=${code}`);
    }

    // and with a plan the target is the Whop checkout, whatever the query says
    await settings(c.company, { plan_id: `plan_${uid()}` });
    const res = await visit(`/r/${code}?next=https://evil.example`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toMatch(/^https:\/\/whop\.com\/checkout\/ch_[0-9a-f]{16}$/);
  });
});

describe("GET /r/CODE without a checkout", () => {
  it("no plan but a landing URL → 302 to the landing URL with ?ref=CODE; click counted and cookie set", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await settings(c.company, { landing_url: "https://landing.example/join" });

    const res = await visit(`/r/${code}`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(`https://landing.example/join?ref=${code}`);
    const clicks = await clicksOf(code);
    expect(clicks).toHaveLength(1);
    expect(clicks[0].counted).toBe(true);
    expect(res.headers.get("set-cookie") ?? "").toContain(`referly_ref=${code}.${clicks[0].id}`);
    expect(await checkoutRequestsFor(code)).toHaveLength(0);
  });

  it("checkout creation failing at Whop → falls back to the landing URL", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const planId = `plan_${uid()}`;
    await settings(c.company, { plan_id: planId, landing_url: "https://landing.example/join" });

    await whopState({ fail: { [FAIL_KEY]: { status: 500, message: "down" } } });
    const res = await visit(`/r/${code}`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(`https://landing.example/join?ref=${code}`);
    // the app did ask Whop for the checkout first
    const sent = await checkoutRequestsFor(code);
    expect(sent.length).toBeGreaterThanOrEqual(1);
    expect(sent[0].body.plan_id).toBe(planId);
    expect(await clicksOf(code)).toHaveLength(1);
  });

  it("checkout failing with no landing URL → 503 page, no Location", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await settings(c.company, { plan_id: `plan_${uid()}` });

    await whopState({ fail: { [FAIL_KEY]: { status: 500, message: "down" } } });
    const res = await visit(`/r/${code}`);
    expect(res.status).toBe(503);
    expect(res.headers.get("location")).toBeNull();
  });

  it("no plan and no landing URL → 302 to the company's Whop store page (its route from the Whop API); click counted", async () => {
    const c = ids();
    const route = `store-${uid()}`;
    await whopState({ companies: { [c.company]: { title: "Acme", route } } } as Partial<SandboxState>);
    const code = await codeFor(c.company, c.referrer);

    const res = await visit(`/r/${code}`);
    expect(res.status).toBe(302);
    expect(res.headers.get("location")).toBe(`https://whop.com/${route}`);
    expect(res.headers.get("set-cookie")).toMatch(/referly_ref=/);
    const clicks = await clicksOf(code);
    expect(clicks).toHaveLength(1);
    expect(clicks[0].counted).toBe(true);
  });

  it("an inactive code → friendly 404, no click recorded, no Location", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await rows(`select public.set_code_active($1, $2, false)`, [c.company, c.referrer]);

    const res = await visit(`/r/${code}`);
    expect(res.status).toBe(404);
    expect(res.headers.get("location")).toBeNull();
    expect(await res.text()).toContain("doesn't exist");
    expect(await clicksOf(code)).toHaveLength(0);
  });

  it("no plan, no landing URL and a company Whop doesn't know → 503 friendly page, no Location", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);

    const res = await visit(`/r/${code}`);
    expect(res.status).toBe(503);
    expect(res.headers.get("location")).toBeNull();
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(await res.text()).toContain("Signups aren't open yet");
  });
});
