/**
 * Milestone rewards and campaign prizes over HTTP against the built app: signed
 * payment.succeeded webhooks unlock a milestone, and the app grants it right after the
 * webhook's transaction through the real @whop/sdk `promoCodes.create` sent to the Whop
 * stand-in (one promo code per Idempotency-Key; told to refuse when a test needs it); the
 * `rewards` and `campaigns` cron jobs; the member's Rewards section showing the code.
 * Set-up and assertions go through the API's Postgres and SQL functions; nothing is mocked.
 *
 * The stand-in is shared by the run, so every assertion is scoped to this test's company,
 * redemption id or idempotency key.
 */
import Whop from "@whop/sdk";
import { afterEach, describe, expect, inject, it } from "vitest";
import { promoCodeFor } from "../../lib/rewards";
import {
  apiCodeFor,
  apiProgram,
  apiReferredPayment,
  apiOne as one,
  apiRows as rows,
  apiSettings as settings,
  decode,
  deliver,
  ids,
  page,
  paymentEvent,
  uid,
  userToken,
  whopCompany,
  whopRequests,
  whopState,
  type Ids,
} from "../helpers";

const CRON_SECRET = "cron_test_secret";

async function cron(job: string, authorization: string | null = `Bearer ${CRON_SECRET}`) {
  const headers: Record<string, string> = {};
  if (authorization !== null) headers.authorization = authorization;
  const res = await fetch(`${inject("apiUrl")}/api/cron/${job}`, { headers });
  return { status: res.status, json: (await res.json().catch(() => null)) as Record<string, any> | null };
}

afterEach(async () => {
  await whopState({ fail: { "POST /promo_codes": null } as any, delay: { "POST /promo_codes": null } as any });
});

/** The promo codes Whop (the stand-in) holds for a company, read with the real SDK. */
async function whopPromoCodes(company: string) {
  const client = new Whop({ apiKey: "test", baseURL: `${inject("sandboxUrl")}/api/v1`, webhookKey: null });
  const out: { id: string; code: string | null }[] = [];
  for await (const p of client.promoCodes.list({ company_id: company })) out.push({ id: p.id, code: p.code });
  return out;
}

/** A company with a member-facing experience, the referrer's code, and no hold: apiProgram. */
const setup = () => apiProgram();

/** A new member ("New Member") pays $49.99 through the referrer's code (apiReferredPayment); returns the event. */
const referredPayment = (c: Ids & { code: string }, extra: Record<string, unknown> = {}) =>
  apiReferredPayment(c, { name: "New Member", extra });

const promoRequests = async (key: string) =>
  (await whopRequests()).filter((r: any) => r.method === "POST" && r.path === "/promo_codes" && r.idempotencyKey === key);

async function redemption(company: string) {
  return one(`select id, status, result, error_message, attempts from public.reward_redemptions where company_id = $1`, [company]);
}

describe("milestone rewards granted through Whop", () => {
  it("crossing the threshold makes a one-use promo code for the member at once; the member sees it; a redelivery makes nothing twice", async () => {
    const c = await setup();
    await one(`select public.create_reward($1, $2)`, [
      c.company,
      { name: "Two friends", threshold: 2, reward_type: "discount", reward_data: { percent_off: 40, plan_ids: ["plan_vip"] } },
    ]);
    await referredPayment(c);
    expect(await rows(`select 1 from public.reward_redemptions where company_id = $1`, [c.company])).toEqual([]);
    const second = await referredPayment(c);
    const r = await redemption(c.company);
    expect(r.status).toBe("granted");
    expect(r.result.promo_code).toBe(promoCodeFor(r.id));
    const sent = await promoRequests(r.id);
    expect(sent).toHaveLength(1);
    expect(sent[0].body).toMatchObject({
      code: promoCodeFor(r.id), company_id: c.company, promo_type: "percentage", amount_off: 40, plan_ids: ["plan_vip"],
      stock: 1, one_per_customer: true, base_currency: "usd",
    });
    expect(r.result.promo_code_id).toMatch(/^promo_/);
    // Whop redelivers the event: nothing new
    expect((await deliver(second)).json).toMatchObject({ duplicate: true });
    expect(await promoRequests(r.id)).toHaveLength(1);
    const html = decode((await page(`/experiences/${c.experience}/rewards`, await userToken(c.referrer))).html);
    expect(html).toContain(r.result.promo_code);
    expect(html).toContain("Two friends");
  });

  it("Whop refuses → failed with Whop's message; the job retries with the same key and code once the backoff passed; a payment with the code marks it claimed", async () => {
    const c = await setup();
    await one(`select public.create_reward($1, $2)`, [c.company, { name: "Free month", threshold: 1, reward_type: "product_unlock", reward_data: { plan_id: "plan_month" } }]);
    await whopState({ fail: { "POST /promo_codes": { status: 422, message: "plan_month is archived" } } });
    await referredPayment(c);
    let r = await redemption(c.company);
    expect([r.status, r.error_message, r.attempts]).toEqual(["failed", "plan_month is archived", 1]);
    await whopState({ fail: { "POST /promo_codes": null } as any });
    // inside the backoff the job leaves it alone
    expect((await cron("rewards")).status).toBe(200);
    expect((await redemption(c.company)).status).toBe("failed");
    await rows(`update public.reward_redemptions set updated_at = now() - interval '5 minutes' where id = $1`, [r.id]);
    const job = await cron("rewards");
    expect(job.json?.result.granted).toBeGreaterThanOrEqual(1);
    r = await redemption(c.company);
    expect([r.status, r.result.promo_code, r.error_message]).toEqual(["granted", promoCodeFor(r.id), null]);
    const sent = await promoRequests(r.id);
    expect(sent.map((s: any) => [s.body.code, s.body.amount_off, s.body.plan_ids])).toEqual([
      [promoCodeFor(r.id), 100, ["plan_month"]],
      [promoCodeFor(r.id), 100, ["plan_month"]],
    ]);
    // the member buys with the code
    const use = paymentEvent(c, { user: { id: c.referrer, username: "referrer", name: "Referrer" } });
    Object.assign(use.data, { promo_code: { id: r.result.promo_code_id, code: r.result.promo_code } });
    expect((await deliver(use)).status).toBe(200);
    expect((await redemption(c.company)).status).toBe("claimed");
  });

  it("Whop makes the code but its answer is lost (timeout) → failed; the retry with the same Idempotency-Key gets that same code, not a second one or 'code already exists'", async () => {
    const c = await setup();
    await one(`select public.create_reward($1, $2)`, [
      c.company,
      { name: "Ten off", threshold: 1, reward_type: "discount", reward_data: { amount_off_cents: 1000, plan_ids: ["plan_a", "plan_b"] } },
    ]);
    // the stand-in makes the code 4 s after each request; the app gives up after 1.5 s (and one SDK retry)
    await whopState({ delay: { "POST /promo_codes": 4000 } });
    try {
      await referredPayment(c);
    } finally {
      await whopState({ delay: { "POST /promo_codes": null } as any });
    }
    let r = await redemption(c.company);
    expect(r.status).toBe("failed");
    expect(r.error_message).toMatch(/timed out/i);
    // ... while Whop did make it, once (the SDK's own retry carried the same key)
    let made: Awaited<ReturnType<typeof whopPromoCodes>> = [];
    for (let i = 0; i < 100 && made.length === 0; i++) {
      await new Promise((ok) => setTimeout(ok, 100));
      made = await whopPromoCodes(c.company);
    }
    expect(made).toEqual([{ id: expect.stringMatching(/^promo_/), code: promoCodeFor(r.id) }]);
    // the SDK's retry of the lost request has to have finished too before the job runs
    await new Promise((ok) => setTimeout(ok, 4500));
    const lost = await promoRequests(r.id);
    expect(lost.length).toBeGreaterThanOrEqual(1);
    expect(lost[0].body).toMatchObject({ promo_type: "flat_amount", amount_off: 10, plan_ids: ["plan_a", "plan_b"], stock: 1, one_per_customer: true });

    await rows(`update public.reward_redemptions set updated_at = now() - interval '5 minutes' where id = $1`, [r.id]);
    expect((await cron("rewards")).status).toBe(200);
    r = await redemption(c.company);
    expect([r.status, r.error_message, r.attempts]).toEqual(["granted", null, 2]);
    expect(r.result).toEqual({ promo_code: promoCodeFor(r.id), promo_code_id: made[0].id });
    const sent = await promoRequests(r.id);
    expect(sent.length).toBe(lost.length + 1);
    expect(new Set(sent.map((s: any) => s.body.code))).toEqual(new Set([promoCodeFor(r.id)]));
    expect(await whopPromoCodes(c.company)).toEqual(made);
  });

  it("the cron jobs need the secret", async () => {
    expect((await cron("rewards", null)).status).toBe(401);
    expect((await cron("campaigns", "Bearer wrong")).status).toBe(401);
  });

  it("the campaigns job ends a campaign past its date, awards once and grants a promo-code prize through Whop", async () => {
    const c = await setup();
    const camp = await one<{ v: any }>(`select public.create_campaign($1, $2) as v`, [
      c.company,
      {
        name: "Week", start_date: new Date(Date.now() - 3_600_000).toISOString(), end_date: new Date(Date.now() + 86_400_000).toISOString(), scheduled: true,
        prizes: { top: [{ reward_type: "discount", reward_data: { amount_off_cents: 1500 } }] },
      },
    ]);
    await referredPayment(c);
    await rows(`update public.campaigns set end_date = now() - interval '1 second' where id = $1`, [camp.v.id]);
    expect((await cron("campaigns")).status).toBe(200);
    expect((await cron("campaigns")).status).toBe(200);
    const won = await rows<any>(`select id, prize, status, result from public.reward_redemptions where company_id = $1`, [c.company]);
    expect(won.map((w) => [w.prize, w.status])).toEqual([["place:1", "granted"]]);
    const [sent] = await promoRequests(won[0].id);
    expect(sent.body).toMatchObject({ promo_type: "flat_amount", amount_off: 15, code: promoCodeFor(won[0].id) });
    expect((await one(`select status from public.campaigns where id = $1`, [camp.v.id])).status).toBe("ended");
  });
});
