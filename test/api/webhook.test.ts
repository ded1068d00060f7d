/**
 * POST /api/webhooks/whop against the running app (real signature checks by @whop/sdk,
 * real Postgres, SQL function process_webhook_event). Amounts are asserted to the cent
 * and every answer is checked against what was (or was not) written in the database.
 */
import { describe, expect, inject, it } from "vitest";
import { membershipActivatedEvent, paymentSucceededEvent } from "../../lib/demo";
import {
  apiCodeFor as codeFor,
  apiDb as db,
  apiRows as rows,
  deliver,
  ids,
  paymentEvent as payment,
  signedHeaders,
  uid,
  whopRequests,
} from "../helpers";

async function count(text: string, params: unknown[] = []): Promise<number> {
  const [r] = await rows<{ n: string }>(`select count(*) as n from (${text}) t`, params);
  return Number(r.n);
}

async function post(body: string, headers: Record<string, string>) {
  const res = await fetch(`${inject("apiUrl")}/api/webhooks/whop`, { method: "POST", headers, body });
  return { status: res.status, json: (await res.json().catch(() => null)) as Record<string, unknown> | null };
}

const eventRows = (eventId: string) => count(`select 1 from public.webhook_events where event_id = $1`, [eventId]);
const paymentRows = (paymentId: string) => count(`select 1 from public.payments where payment_id = $1`, [paymentId]);
const commissionsOf = (paymentId: string) =>
  rows(`select * from public.commissions where payment_id = $1 order by created_at`, [paymentId]);

describe("POST /api/webhooks/whop: payment.succeeded converts and pays commission", () => {
  it("a valid signed payment with metadata.referral_code creates one 1000-cent pending commission and converts the referral", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const event = payment(c, { metadata: { referral_code: code } });

    const r = await deliver(event);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "commission_created" });

    const [ev] = await rows(`select * from public.webhook_events where event_id = $1`, [event.id]);
    expect(ev).toMatchObject({ type: "payment.succeeded", company_id: c.company, outcome: "commission_created" });

    const [pay] = await rows(`select * from public.payments where company_id = $1 and payment_id = $2`, [
      c.company,
      event.data.id,
    ]);
    expect(pay).toMatchObject({ user_id: c.referee, amount_cents: "4999", tax_cents: "0", currency: "USD" });
    expect(pay.referral_id).not.toBeNull();

    const commissions = await commissionsOf(event.data.id);
    expect(commissions).toHaveLength(1);
    expect(commissions[0]).toMatchObject({
      company_id: c.company,
      beneficiary_user_id: c.referrer,
      level: 1,
      base_amount_cents: "4999",
      rate_bp: 2000,
      amount_cents: "1000",
      currency: "USD",
      status: "pending",
      referral_id: pay.referral_id,
    });
    // pending until the default 14-day hold ends
    const holdDays = (new Date(commissions[0].available_at).getTime() - Date.now()) / 86_400_000;
    expect(holdDays).toBeGreaterThan(13.9);
    expect(holdDays).toBeLessThan(14.1);

    const [ref] = await rows(`select * from public.referrals where company_id = $1 and referee_user_id = $2`, [
      c.company,
      c.referee,
    ]);
    expect(ref).toMatchObject({ id: pay.referral_id, referrer_user_id: c.referrer, status: "converted", source: "link" });
    expect(ref.converted_at).not.toBeNull();

    // the ledger saw the payment and the commission, to the cent (points rows aside)
    const ledger = await rows(
      `select kind, user_id, amount_cents from public.transactions
       where company_id = $1 and kind in ('payment', 'commission') order by id`,
      [c.company],
    );
    expect(ledger).toEqual([
      { kind: "payment", user_id: c.referee, amount_cents: "4999" },
      { kind: "commission", user_id: c.referrer, amount_cents: "1000" },
    ]);
  });

  it("the same event delivered again answers 200 duplicate and still one commission", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const event = payment(c, { metadata: { referral_code: code } });

    expect((await deliver(event)).json).toMatchObject({ ok: true, duplicate: false, outcome: "commission_created" });
    const ledgerRows = () => count(`select 1 from public.transactions where company_id = $1`, [c.company]);
    const before = await ledgerRows();
    const again = await deliver(event);
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ ok: true, duplicate: true, outcome: "commission_created" });

    expect(await commissionsOf(event.data.id)).toHaveLength(1);
    expect(await eventRows(event.id)).toBe(1);
    expect(await ledgerRows()).toBe(before);
    expect(await paymentRows(event.data.id)).toBe(1);
  });

  it("a second event id for the same payment does not pay twice", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const first = payment(c, { metadata: { referral_code: code } });
    const second = { ...first, id: uid("evt_") };

    expect((await deliver(first)).json).toMatchObject({ outcome: "commission_created" });
    const r = await deliver(second);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ ok: true, duplicate: false });
    expect(r.json?.outcome).not.toBe("commission_created");
    expect(await commissionsOf(first.data.id)).toHaveLength(1);
    expect(await paymentRows(first.data.id)).toBe(1);
  });

  it("20 concurrent deliveries of one new event write exactly one commission", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const event = payment(c, { metadata: { referral_code: code } });

    const answers = await Promise.all(Array.from({ length: 20 }, () => deliver(event)));
    expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
    const fresh = answers.filter((a) => a.json?.duplicate === false);
    expect(fresh).toHaveLength(1);
    expect(fresh[0].json?.outcome).toBe("commission_created");
    expect(answers.filter((a) => a.json?.duplicate === true)).toHaveLength(19);

    const commissions = await commissionsOf(event.data.id);
    expect(commissions).toHaveLength(1);
    expect(commissions[0].amount_cents).toBe("1000");
    expect(await eventRows(event.id)).toBe(1);
    expect(await count(`select 1 from public.transactions where company_id = $1 and kind = 'commission'`, [c.company])).toBe(1);
  });

  it("total 110.00 with tax_amount 10.00 earns 20% of 100.00: 2000 cents", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const event = payment(c, { total: 110, taxAmount: 10, metadata: { referral_code: code } });

    const r = await deliver(event);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ outcome: "commission_created" });
    const [pay] = await rows(`select amount_cents, tax_cents from public.payments where payment_id = $1`, [event.data.id]);
    expect(pay).toEqual({ amount_cents: "11000", tax_cents: "1000" });
    const commissions = await commissionsOf(event.data.id);
    expect(commissions).toHaveLength(1);
    expect(commissions[0]).toMatchObject({ base_amount_cents: "10000", rate_bp: 2000, amount_cents: "2000" });
  });
});

describe("POST /api/webhooks/whop: amounts in minor units, one rounding rule", () => {
  it("25% of 0.50 is 12.5 cents → 12 (round half down)", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await rows(`select public.update_program_settings($1, '{"commission_rate_bp": 2500}'::jsonb)`, [c.company]);
    const event = payment(c, { total: 0.5, metadata: { referral_code: code } });
    expect((await deliver(event)).json).toMatchObject({ outcome: "commission_created" });
    const commissions = await commissionsOf(event.data.id);
    expect(commissions).toHaveLength(1);
    expect(commissions[0]).toMatchObject({ base_amount_cents: "50", rate_bp: 2500, amount_cents: "12" });
  });

  it("a JPY payment of ¥4999 is 4999 minor units (no cents) and earns ¥1000", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const event = paymentSucceededEvent({
      eventId: uid("evt_"),
      paymentId: uid("pay_"),
      membershipId: uid("mem_"),
      companyId: c.company,
      user: { id: c.referee, username: "bob", name: null },
      planId: "plan_test",
      total: 4999,
      currency: "jpy",
      metadata: { referral_code: code },
    });
    expect((await deliver(event)).json).toMatchObject({ outcome: "commission_created" });
    const [pay] = await rows(`select amount_cents, currency from public.payments where payment_id = $1`, [event.data.id]);
    expect(pay).toEqual({ amount_cents: "4999", currency: "JPY" });
    const commissions = await commissionsOf(event.data.id);
    expect(commissions).toHaveLength(1);
    expect(commissions[0]).toMatchObject({ base_amount_cents: "4999", amount_cents: "1000", currency: "JPY" });
  });
});

describe("POST /api/webhooks/whop: signatures", () => {
  it("a signature made with another secret → 401, nothing written", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const event = payment(c, { metadata: { referral_code: code } });
    const r = await deliver(event, { secret: "ws_attacker_secret_000000000000000000" });
    expect(r.status).toBe(401);
    expect(r.json?.ok).toBe(false);
    expect(await eventRows(event.id)).toBe(0);
    expect(await paymentRows(event.data.id)).toBe(0);
  });

  it("a tampered body (sign one body, send another) → 401, nothing written", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const event = payment(c, { metadata: { referral_code: code } });
    const signedBody = JSON.stringify(event);
    const sentBody = JSON.stringify({ ...event, data: { ...event.data, total: 4999.99 } });
    const r = await post(sentBody, signedHeaders(signedBody, { id: event.id }));
    expect(r.status).toBe(401);
    expect(await eventRows(event.id)).toBe(0);
    expect(await paymentRows(event.data.id)).toBe(0);
  });

  it("missing signature headers → 401, nothing written", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const event = payment(c, { metadata: { referral_code: code } });
    const body = JSON.stringify(event);
    const full = signedHeaders(body, { id: event.id });

    expect((await post(body, { "content-type": "application/json" })).status).toBe(401);
    const { "webhook-signature": _sig, ...noSignature } = full;
    expect((await post(body, noSignature)).status).toBe(401);
    const { "webhook-timestamp": _ts, ...noTimestamp } = full;
    expect((await post(body, noTimestamp)).status).toBe(401);
    const { "webhook-id": _id, ...noId } = full;
    expect((await post(body, noId)).status).toBe(401);

    expect(await eventRows(event.id)).toBe(0);
    expect(await paymentRows(event.data.id)).toBe(0);
  });

  it("a correctly signed but 10-minute-old (or future) timestamp → 401 (replay), nothing written", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const event = payment(c, { metadata: { referral_code: code } });
    const r = await deliver(event, { timestamp: Math.floor(Date.now() / 1000) - 600 });
    expect(r.status).toBe(401);
    // nor 10 minutes in the future
    expect((await deliver(event, { timestamp: Math.floor(Date.now() / 1000) + 600 })).status).toBe(401);
    expect(await eventRows(event.id)).toBe(0);
    expect(await paymentRows(event.data.id)).toBe(0);
  });
});

describe("POST /api/webhooks/whop: bad payloads", () => {
  it("signed but malformed JSON → 400, nothing written", async () => {
    const id = uid("evt_");
    const body = `{"id":"${id}","type":"payment.succeeded","data":{`;
    const r = await post(body, signedHeaders(body, { id }));
    expect(r.status).toBe(400);
    expect(r.json?.ok).toBe(false);
    expect(await eventRows(id)).toBe(0);
  });

  it("signed valid JSON of an unknown shape (no data) → 400, nothing written", async () => {
    const c = ids();
    const id = uid("evt_");
    const body = JSON.stringify({ id, type: "payment.succeeded", company_id: c.company, total: 49.99 });
    const r = await post(body, signedHeaders(body, { id }));
    expect(r.status).toBe(400);
    expect(r.json?.ok).toBe(false);
    expect(await eventRows(id)).toBe(0);
    expect(await count(`select 1 from public.programs where company_id = $1`, [c.company])).toBe(0);
  });

  it("payment.succeeded without a user → 400, nothing written", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const event = payment(c, { metadata: { referral_code: code } });
    const { user: _user, ...dataWithoutUser } = event.data;
    const body = JSON.stringify({ ...event, data: dataWithoutUser });
    const r = await post(body, signedHeaders(body, { id: event.id }));
    expect(r.status).toBe(400);
    expect(r.json?.ok).toBe(false);
    expect(await eventRows(event.id)).toBe(0);
    expect(await paymentRows(event.data.id)).toBe(0);
    expect(await count(`select 1 from public.referrals where company_id = $1`, [c.company])).toBe(0);
  });
});

describe("POST /api/webhooks/whop: attribution", () => {
  it("a referral code of another company than the event's → 200 no_attribution, no commission", async () => {
    const a = ids();
    const b = ids();
    const codeOfA = await codeFor(a.company, a.referrer);
    const event = payment(b, { metadata: { referral_code: codeOfA } });

    const r = await deliver(event);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "no_attribution" });
    expect(await commissionsOf(event.data.id)).toHaveLength(0);
    expect(await count(`select 1 from public.referrals where company_id in ($1, $2)`, [a.company, b.company])).toBe(0);
    const [pay] = await rows(`select company_id, referral_id from public.payments where payment_id = $1`, [event.data.id]);
    expect(pay).toEqual({ company_id: b.company, referral_id: null });
  });

  it("a click of another company in metadata.click_id → no_attribution, no commission", async () => {
    const a = ids();
    const b = ids();
    const codeOfA = await codeFor(a.company, a.referrer);
    await rows(`select public.update_program_settings($1, $2::jsonb)`, [a.company, JSON.stringify({ landing_url: "https://a.example/" })]);
    const click = await fetch(`${inject("apiUrl")}/r/${codeOfA}`, {
      redirect: "manual",
      headers: { "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0", "x-forwarded-for": "198.51.100.41" },
    });
    expect(click.status).toBe(302);
    const [k] = await rows(
      `select k.id from public.referral_clicks k join public.referral_codes c on c.id = k.code_id where c.code = $1`,
      [codeOfA],
    );
    expect(k).toBeDefined();
    await codeFor(b.company, b.referrer);

    const event = payment(b, { metadata: { click_id: k.id } });
    const r = await deliver(event);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "no_attribution" });
    expect(await commissionsOf(event.data.id)).toHaveLength(0);
    expect(await count(`select 1 from public.referrals where company_id in ($1, $2)`, [a.company, b.company])).toBe(0);
  });

  it("a buyer using their own referral code earns nothing (no self-referral)", async () => {
    const c = ids();
    const ownCode = await codeFor(c.company, c.referee, "bob");
    const event = payment(c, { metadata: { referral_code: ownCode } });
    const r = await deliver(event);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "no_attribution" });
    expect(await commissionsOf(event.data.id)).toHaveLength(0);
    expect(await count(`select 1 from public.referrals where company_id = $1`, [c.company])).toBe(0);
  });

  it("no attribution → 200 no_attribution, the payment is still recorded", async () => {
    const c = ids();
    await codeFor(c.company, c.referrer);
    const event = payment(c, { total: 19.5 });

    const r = await deliver(event);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "no_attribution" });
    const [pay] = await rows(`select * from public.payments where company_id = $1 and payment_id = $2`, [
      c.company,
      event.data.id,
    ]);
    expect(pay).toMatchObject({ user_id: c.referee, amount_cents: "1950", currency: "USD", referral_id: null });
    expect(await commissionsOf(event.data.id)).toHaveLength(0);
    const [ev] = await rows(`select outcome from public.webhook_events where event_id = $1`, [event.id]);
    expect(ev.outcome).toBe("no_attribution");
  });

  it("an event type without a handler (setup_intent.succeeded) → 200 outcome recorded, stored in webhook_events", async () => {
    // a Whop event Referly has no use for (refunds, disputes and deactivations get handlers)
    const c = ids();
    const event = {
      id: uid("evt_"),
      api_version: "v1",
      type: "setup_intent.succeeded",
      timestamp: new Date().toISOString(),
      company_id: c.company,
      data: { id: uid("sint_"), status: "succeeded", company: { id: c.company }, member: null, payment_method: null },
    };
    const r = await deliver(event);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "recorded" });
    const [ev] = await rows(`select * from public.webhook_events where event_id = $1`, [event.id]);
    expect(ev).toMatchObject({ type: "setup_intent.succeeded", company_id: c.company, outcome: "recorded" });
    // no handler reads it, so only its id is kept (nothing of the member or payment method)
    expect(ev.payload).toEqual({ id: event.data.id });
  });

  it("membership.activated with metadata.referral_code creates the referral with signed_up_at; a later payment without metadata converts it", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const membershipId = uid("mem_");
    const signup = membershipActivatedEvent({
      eventId: uid("evt_"),
      membershipId,
      companyId: c.company,
      user: { id: c.referee, username: "bob", name: null },
      planId: "plan_test",
      metadata: { referral_code: code },
    });

    const r = await deliver(signup);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "signup_counted" });
    const [ref] = await rows(`select * from public.referrals where company_id = $1 and referee_user_id = $2`, [
      c.company,
      c.referee,
    ]);
    expect(ref).toMatchObject({ referrer_user_id: c.referrer, status: "pending", source: "link", converted_at: null });
    expect(ref.signed_up_at).not.toBeNull();
    expect(await count(`select 1 from public.commissions where company_id = $1`, [c.company])).toBe(0);

    // the first payment of that member is attributed to the signup's referral
    const pay = payment(c);
    expect((await deliver(pay)).json).toMatchObject({ outcome: "commission_created" });
    const [after] = await rows(`select status from public.referrals where id = $1`, [ref.id]);
    expect(after.status).toBe("converted");
    const commissions = await commissionsOf(pay.data.id);
    expect(commissions).toHaveLength(1);
    expect(commissions[0]).toMatchObject({ referral_id: ref.id, beneficiary_user_id: c.referrer, amount_cents: "1000" });
  });

  it("membership.deactivated ends an active referral (it stays converted); a later membership.activated makes it active again; renewals still pay", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const user = { id: c.referee, username: "bob", name: null };
    const membership = (type: "membership.activated" | "membership.deactivated") => {
      const e = membershipActivatedEvent({ eventId: uid("evt_"), membershipId: "mem_x", companyId: c.company, user, planId: "plan_test", metadata: null });
      return { ...e, type };
    };
    expect((await deliver(payment(c, { metadata: { referral_code: code } }))).json).toMatchObject({ outcome: "commission_created" });
    const active = async () =>
      (await rows(`select active_referrals from public.referral_stats where company_id = $1 and user_id = $2`, [c.company, c.referrer]))[0]
        .active_referrals;
    expect(await active()).toBe("1");

    const off = await deliver(membership("membership.deactivated"));
    expect(off).toMatchObject({ status: 200, json: { ok: true, duplicate: false, outcome: "referral_deactivated" } });
    const [ref] = await rows(`select status, deactivated_at from public.referrals where company_id = $1 and referee_user_id = $2`, [c.company, c.referee]);
    expect(ref.status).toBe("converted");
    expect(ref.deactivated_at).not.toBeNull();
    expect(await active()).toBe("0");
    // a second deactivation changes nothing
    expect((await deliver(membership("membership.deactivated"))).json).toMatchObject({ outcome: "no_active_referral" });

    // a renewal while inactive still earns: commissions follow payments
    expect((await deliver(payment(c))).json).toMatchObject({ outcome: "commission_created" });

    expect((await deliver(membership("membership.activated"))).json).toMatchObject({ outcome: "referral_reactivated" });
    expect(await active()).toBe("1");
    const check = (await rows(`select public.check_analytics($1) as v`, [c.company]))[0].v;
    expect(check).toEqual({ ok: true, differences: [] });
  });

  it("a signup through a link marks its click converted, before any payment", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const [click] = await rows(`select public.record_click($1, 'visitor-signup', 'Mozilla/5.0', null, 'US', false)->>'click_id' as id`, [code]);
    const signup = membershipActivatedEvent({
      eventId: uid("evt_"),
      membershipId: uid("mem_"),
      companyId: c.company,
      user: { id: c.referee, username: "bob", name: null },
      planId: "plan_test",
      metadata: { referral_code: code, click_id: click.id },
    });
    expect((await deliver(signup)).json).toMatchObject({ outcome: "signup_counted" });
    const [k] = await rows(`select converted from public.referral_clicks where id = $1`, [click.id]);
    expect(k.converted).toBe(true);
    const [stats] = await rows(`select clicks, signups, conversions from public.referral_stats where company_id = $1 and user_id = $2`, [c.company, c.referrer]);
    expect(stats).toEqual({ clicks: "1", signups: "1", conversions: "0" });
  });

  it("metadata.click_id alone (from the checkout /r/CODE created) attributes the payment", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    await rows(`select public.update_program_settings($1, $2::jsonb)`, [c.company, JSON.stringify({ plan_id: `plan_${uid()}` })]);

    const click = await fetch(`${inject("apiUrl")}/r/${code}`, {
      redirect: "manual",
      headers: {
        "user-agent":
          "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        "x-forwarded-for": "198.51.100.23",
      },
    });
    expect(click.status).toBe(302);
    const checkout = (await whopRequests()).find(
      (q) => q.method === "POST" && q.path === "/checkout_configurations" && q.body?.metadata?.referral_code === code,
    );
    expect(checkout).toBeDefined();
    const clickId: string = checkout!.body.metadata.click_id;
    expect(clickId).toMatch(/^[0-9a-f-]{36}$/);

    const event = payment(c, { metadata: { click_id: clickId } });
    const r = await deliver(event);
    expect(r.status).toBe(200);
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "commission_created" });

    const [ref] = await rows(`select * from public.referrals where company_id = $1 and referee_user_id = $2`, [
      c.company,
      c.referee,
    ]);
    expect(ref).toMatchObject({ referrer_user_id: c.referrer, click_id: clickId, status: "converted" });
    const [k] = await rows(`select converted from public.referral_clicks where id = $1`, [clickId]);
    expect(k.converted).toBe(true);
    const commissions = await commissionsOf(event.data.id);
    expect(commissions).toHaveLength(1);
    expect(commissions[0]).toMatchObject({ beneficiary_user_id: c.referrer, amount_cents: "1000" });
  });
});

describe("POST /api/webhooks/whop: database failure", () => {
  it("answers 5xx so Whop retries, writes nothing, and the retry succeeds", async () => {
    const c = ids();
    const code = await codeFor(c.company, c.referrer);
    const event = payment(c, { metadata: { referral_code: code } });

    await db().query(`alter function public.apply_payment_succeeded(text, jsonb) rename to apply_payment_succeeded_off`);
    let renamed = true;
    try {
      const r = await deliver(event);
      expect(r.status).toBeGreaterThanOrEqual(500);
      expect(await eventRows(event.id)).toBe(0);
      expect(await paymentRows(event.data.id)).toBe(0);
      await db().query(`alter function public.apply_payment_succeeded_off(text, jsonb) rename to apply_payment_succeeded`);
      renamed = false;
    } finally {
      if (renamed) {
        await db().query(`alter function public.apply_payment_succeeded_off(text, jsonb) rename to apply_payment_succeeded`);
      }
    }

    const retry = await deliver(event);
    expect(retry.status).toBe(200);
    expect(retry.json).toEqual({ ok: true, duplicate: false, outcome: "commission_created" });
    const commissions = await commissionsOf(event.data.id);
    expect(commissions).toHaveLength(1);
    expect(commissions[0].amount_cents).toBe("1000");
  });
});
