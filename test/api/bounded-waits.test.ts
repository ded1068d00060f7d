/**
 * Every database wait of the app is bounded (lib/db/pg.ts APP_DB_LIMITS). While one
 * company's rollups lock is held elsewhere, that company's payment webhook answers 503 with
 * Retry-After once its lock wait runs out, writing nothing; another company's webhook is
 * answered meanwhile; the same delivery, sent again after the lock is free, is applied once.
 */
import pg from "pg";
import { afterEach, describe, expect, inject, it } from "vitest";
import { apiCodeFor as codeFor, apiRows as rows, ids, paymentEvent as payment, signedHeaders } from "../helpers";

async function post(event: { id: string }) {
  const body = JSON.stringify(event);
  const res = await fetch(`${inject("apiUrl")}/api/webhooks/whop`, { method: "POST", headers: signedHeaders(body, { id: event.id }), body });
  return { status: res.status, retryAfter: res.headers.get("retry-after"), json: (await res.json()) as Record<string, unknown>, at: Date.now() };
}

let holder: pg.Client | undefined;
afterEach(async () => {
  await holder?.query("rollback").catch(() => {});
  await holder?.end().catch(() => {});
  holder = undefined;
});

/**
 * Two companies with a referrer's code each; another session holds the first one's rollups
 * lock (what a long rebuild or a stuck writer does) until the test ends (afterEach).
 */
async function stuckCompanyBesideAnother() {
  const busy = ids();
  const other = ids();
  const busyCode = await codeFor(busy.company, busy.referrer);
  const otherCode = await codeFor(other.company, other.referrer);
  const lock = new pg.Client({ connectionString: inject("apiDbUrl") });
  holder = lock;
  await lock.connect();
  await lock.query("begin");
  await lock.query("select pg_advisory_xact_lock(hashtextextended('rollups:' || $1, 0))", [busy.company]);
  return { busy, other, busyCode, otherCode, release: () => lock.query("rollback") };
}

describe("bounded waits", () => {
  it("a payment that can't get its company's lock answers 503 + Retry-After, writes nothing, and is applied once when redelivered", { timeout: 60_000 }, async () => {
    const { busy, other, busyCode, otherCode, release } = await stuckCompanyBesideAnother();

    const stuckEvent = payment(busy, { metadata: { referral_code: busyCode } });
    const sent = Date.now();
    const stuck = post(stuckEvent);
    const meanwhile = await post(payment(other, { metadata: { referral_code: otherCode } }));
    const refused = await stuck;

    expect(meanwhile.status).toBe(200);
    expect(meanwhile.json).toMatchObject({ ok: true, outcome: "commission_created" });
    expect(meanwhile.at).toBeLessThan(refused.at); // answered while the busy company's webhook still waited
    expect(refused.status).toBe(503);
    expect(refused.retryAfter).toBe("5");
    expect(refused.json).toEqual({ ok: false, error: expect.stringMatching(/busy.*nothing was saved/) });
    expect(refused.at - sent).toBeGreaterThanOrEqual(4_500); // it waited its lock bound, no longer
    const written = await rows(
      `select (select count(*) from public.webhook_events where event_id = $1)::int as events,
              (select count(*) from public.payments where company_id = $2)::int as payments,
              (select count(*) from public.commissions where company_id = $2)::int as commissions`,
      [stuckEvent.id, busy.company],
    );
    expect(written).toEqual([{ events: 0, payments: 0, commissions: 0 }]);

    await release();
    const redelivered = await post(stuckEvent);
    expect(redelivered.status).toBe(200);
    expect(redelivered.json).toEqual({ ok: true, duplicate: false, outcome: "commission_created" });
    const again = await post(stuckEvent);
    expect(again.json).toEqual({ ok: true, duplicate: true, outcome: "commission_created" });
    const commissions = await rows<{ amount_cents: string }>(`select amount_cents from public.commissions where company_id = $1`, [busy.company]);
    expect(commissions.map((c) => c.amount_cents)).toEqual(["1000"]);
  });
});

describe("a company's share of the pool", () => {
  it("12 webhooks of a stuck company hold at most half the connections: another company is answered before any of them", { timeout: 90_000 }, async () => {
    const { busy, other, busyCode, otherCode } = await stuckCompanyBesideAnother();

    // more of the busy company's deliveries than the pool has connections (10), all waiting on its lock
    const stuck = Array.from({ length: 12 }, () => post(payment(busy, { metadata: { referral_code: busyCode }, user: { id: `user_s${Math.random().toString(36).slice(2, 10)}`, username: "s", name: null } })));
    await new Promise((r) => setTimeout(r, 500));
    const meanwhile = await post(payment(other, { metadata: { referral_code: otherCode } }));
    const answers = await Promise.all(stuck);

    expect(meanwhile.status).toBe(200);
    expect(meanwhile.json).toMatchObject({ ok: true, outcome: "commission_created" });
    // answered before the first of the stuck ones (which wait out their 5 s lock bound)
    expect(meanwhile.at).toBeLessThan(Math.min(...answers.map((a) => a.at)));
    expect(answers.map((a) => [a.status, a.retryAfter])).toEqual(Array(12).fill([503, "5"]));
    const [written] = await rows<{ n: number }>(`select count(*)::int as n from public.payments where company_id = $1`, [busy.company]);
    expect(written.n).toBe(0);
  });
});
