/**
 * Who is looking: the member view and the creator dashboard rendered by the real server,
 * identity from x-whop-user-token (ES256, verified by @whop/sdk), access from the Whop
 * stand-in (users.checkAccess), numbers from Postgres.
 */
import { importJWK, SignJWT } from "jose";
import { describe, expect, inject, it } from "vitest";
import { generateUserTokenKeys } from "../../lib/demo";
import { apiCodeFor, apiDb as db, deliver, ids, page, paymentEvent, testId, userToken, whopCompany } from "../helpers";

/**
 * Which access fallback (app/unauthorized.tsx 401, app/forbidden.tsx 403) the server's
 * render resolved to, or null. When unauthorized()/forbidden() is thrown in a page,
 * Next.js answers the status with an error shell whose body is rendered on the client
 * from the RSC payload (vercel/next.js#62228), so the page's text travels in that
 * payload, and the digest says which fallback the client shows.
 */
function fallback(html: string): number | null {
  const all = [...html.matchAll(/NEXT_HTTP_ERROR_FALLBACK;(\d{3})/g)].map((m) => Number(m[1]));
  expect(new Set(all).size, "at most one fallback").toBeLessThanOrEqual(1);
  return all[0] ?? null;
}

const UNAUTHORIZED_TEXT = "Open this app inside Whop";
const FORBIDDEN_TEXT = "You don't have access";

/** Asserts a 401 "open this app inside Whop" answer that shows none of the page. */
function expectUnauthorized(r: { status: number; html: string }) {
  expect(r.status).toBe(401);
  expect(fallback(r.html)).toBe(401);
  expect(r.html).toContain(UNAUTHORIZED_TEXT);
  expect(r.html).not.toMatch(/referral-link|referral-code|total-clicks|Program settings/);
}

/** Asserts a 403 "you don't have access" answer that shows none of the page. */
function expectForbidden(r: { status: number; html: string }) {
  expect(r.status).toBe(403);
  expect(fallback(r.html)).toBe(403);
  expect(r.html).toContain(FORBIDDEN_TEXT);
  expect(r.html).not.toMatch(/referral-link|referral-code|total-clicks|Program settings/);
}

describe("member view /experiences/[experienceId]: identity", () => {
  it("without a token → 401 'Open this app inside Whop'", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    const r = await page(`/experiences/${c.experience}`);
    expectUnauthorized(r);
    const { rows } = await db().query(`select 1 from public.programs where company_id = $1`, [c.company]);
    expect(rows).toHaveLength(0);
  });

  it("a token signed by another ES256 key → 401", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    const other = await generateUserTokenKeys();
    const r = await page(`/experiences/${c.experience}`, await userToken(c.referrer, inject("appId"), other.privateJwk));
    expectUnauthorized(r);
    const { rows } = await db().query(`select 1 from public.referral_codes where user_id = $1`, [c.referrer]);
    expect(rows).toHaveLength(0);
  });

  it("a token for another app (wrong audience) → 401", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    const r = await page(`/experiences/${c.experience}`, await userToken(c.referrer, "app_someoneelse"));
    expectUnauthorized(r);
  });

  it("an expired token, or one from another issuer → 401", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    const key = await importJWK(JSON.parse(inject("userTokenPrivateKey")), "ES256");
    const now = Math.floor(Date.now() / 1000);
    const expired = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256" })
      .setIssuer("urn:whopcom:exp-proxy")
      .setAudience(inject("appId"))
      .setSubject(c.referrer)
      .setIssuedAt(now - 7200)
      .setExpirationTime(now - 3600)
      .sign(key);
    expectUnauthorized(await page(`/experiences/${c.experience}`, expired));
    const otherIssuer = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256" })
      .setIssuer("urn:example:not-whop")
      .setAudience(inject("appId"))
      .setSubject(c.referrer)
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(key);
    expectUnauthorized(await page(`/experiences/${c.experience}`, otherIssuer));
    // the same claims with Whop's issuer are accepted: the refusals above are about exp and iss
    const good = await new SignJWT({})
      .setProtectedHeader({ alg: "ES256" })
      .setIssuer("urn:whopcom:exp-proxy")
      .setAudience(inject("appId"))
      .setSubject(c.referrer)
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(key);
    expect((await page(`/experiences/${c.experience}`, good)).status).toBe(200);
  });

  it("a garbage token → 401", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    const r = await page(`/experiences/${c.experience}`, "not.a.jwt");
    expectUnauthorized(r);
  });

  it("a customer → 200 with their referral link <apiUrl>/r/<CODE> and the funnel at zero", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    const r = await page(`/experiences/${c.experience}`, await userToken(c.referrer));
    expect(r.status).toBe(200);
    expect(fallback(r.html)).toBeNull();

    const { rows } = await db().query(`select code from public.referral_codes where company_id = $1 and user_id = $2`, [
      c.company,
      c.referrer,
    ]);
    expect(rows).toHaveLength(1);
    const code: string = rows[0].code;
    expect(code).toMatch(/^[A-Za-z0-9_-]{3,32}$/);

    expect(testId(r.html, "referral-link")).toBe(`${inject("apiUrl")}/r/${code}`);
    expect(testId(r.html, "referral-code")).toBe(code);
    expect(testId(r.html, "funnel-clicks")).toBe("0");
    expect(testId(r.html, "funnel-signups")).toBe("0");
    expect(testId(r.html, "funnel-conversions")).toBe("0");
    expect(testId(r.html, "funnel-active")).toBe("0");
    expect(testId(r.html, "earned-month")).toBe("$0.00");
    expect(testId(r.html, "earnings-total")).toBe("$0.00");

    // a second visit shows the same code (one per member per company)
    const again = await page(`/experiences/${c.experience}`, await userToken(c.referrer));
    expect(testId(again.html, "referral-code")).toBe(code);
  });

  it("a user with no_access → 403, no code made for them", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer", [c.other]: "no_access" });
    const r = await page(`/experiences/${c.experience}`, await userToken(c.other));
    expectForbidden(r);
    const { rows } = await db().query(`select 1 from public.referral_codes where user_id = $1`, [c.other]);
    expect(rows).toHaveLength(0);
  });
});

describe("creator dashboard /dashboard/[companyId]: admins only", () => {
  it("a customer → 403 'You don't have access'", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer", [c.other]: "admin" });
    const r = await page(`/dashboard/${c.company}`, await userToken(c.referrer));
    expectForbidden(r);
  });

  it("the admin of another company → 403", async () => {
    const a = ids();
    const b = ids();
    await whopCompany(a.company, a.experience, { [a.other]: "admin" });
    await whopCompany(b.company, b.experience, { [b.other]: "admin" });
    const r = await page(`/dashboard/${b.company}`, await userToken(a.other));
    expectForbidden(r);
  });

  it("no token → 401", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.other]: "admin" });
    const r = await page(`/dashboard/${c.company}`);
    expectUnauthorized(r);
  });

  it("every section: 401 without a token, 403 for a customer and another company's admin, 200 for the admin", async () => {
    const a = ids();
    const b = ids();
    await whopCompany(a.company, a.experience, { [a.referrer]: "customer", [a.other]: "admin" });
    await whopCompany(b.company, b.experience, { [b.other]: "admin" });
    await apiCodeFor(a.company, a.referrer, "member_a");
    for (const section of ["", "/members", `/members/${a.referrer}`, "/referrals", "/commissions", "/payouts", "/rewards", "/fraud", "/settings"]) {
      const path = `/dashboard/${a.company}${section}`;
      expectUnauthorized(await page(path));
      expectForbidden(await page(path, await userToken(a.referrer)));
      expectForbidden(await page(path, await userToken(b.other)));
      expect((await page(path, await userToken(a.other))).status, path).toBe(200);
    }
    // a member of company A is not a member page in company B's dashboard
    expect((await page(`/dashboard/${b.company}/members/${a.referrer}`, await userToken(b.other))).status).toBe(404);
  });

  it("the admin → 200 with the totals at zero and the settings form with the defaults", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.other]: "admin" });
    const r = await page(`/dashboard/${c.company}`, await userToken(c.other));
    expect(r.status).toBe(200);
    expect(fallback(r.html)).toBeNull();
    expect(testId(r.html, "kpi-clicks")).toBe("0");
    expect(testId(r.html, "kpi-conversions")).toBe("0");
    expect(testId(r.html, "kpi-revenue")).toBe("$0.00");
    expect(testId(r.html, "kpi-owed")).toBe("$0.00");
    // a new company opens on the setup checklist
    expect(r.html).toContain('aria-label="Setup checklist"');
    const settings = await page(`/dashboard/${c.company}/settings`, await userToken(c.other));
    expect(settings.status).toBe(200);
    expect(settings.html).toContain('aria-label="Program settings"');
    const input = (name: string) => new RegExp(`<input[^>]*name="${name}"[^>]*value="([^"]*)"`).exec(settings.html)?.[1];
    expect(input("commission_percent")).toBe("20");
    expect(input("hold_days")).toBe("14");
    expect(input("min_payout")).toBe("10.00");
  });
});

describe("pages after a converted referral", () => {
  it("the referrer sees conversions 1 and $10.00 pending; the creator sees $49.99 attributed and $10.00 owed", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer", [c.other]: "admin" });

    // the referrer's first visit makes their code
    const first = await page(`/experiences/${c.experience}`, await userToken(c.referrer));
    expect(first.status).toBe(200);
    const code = testId(first.html, "referral-code");

    const event = paymentEvent(c, { metadata: { referral_code: code } });
    const d = await deliver(event);
    expect(d.status).toBe(200);
    expect(d.json).toMatchObject({ outcome: "commission_created" });

    const member = await page(`/experiences/${c.experience}`, await userToken(c.referrer));
    expect(member.status).toBe(200);
    expect(testId(member.html, "funnel-signups")).toBe("1");
    expect(testId(member.html, "funnel-conversions")).toBe("1");
    expect(testId(member.html, "funnel-active")).toBe("1");
    expect(testId(member.html, "earned-month")).toBe("$10.00");
    expect(testId(member.html, "earnings-total")).toBe("$10.00");

    const dash = await page(`/dashboard/${c.company}`, await userToken(c.other));
    expect(dash.status).toBe(200);
    expect(testId(dash.html, "kpi-conversions")).toBe("1");
    expect(testId(dash.html, "kpi-revenue")).toBe("$49.99");
    expect(testId(dash.html, "kpi-earned")).toBe("$10.00");
    expect(testId(dash.html, "kpi-owed")).toBe("$10.00");

    // the buyer's own view credits nobody else: they see their referrer, and no earnings
    await whopCompany(c.company, c.experience, { [c.referee]: "customer" });
    const buyer = await page(`/experiences/${c.experience}`, await userToken(c.referee));
    expect(buyer.status).toBe(200);
    expect(testId(buyer.html, "funnel-conversions")).toBe("0");
    expect(testId(buyer.html, "earnings-total")).toBe("$0.00");
    expect(buyer.html).toContain('data-testid="referred-by"');
  });
});
