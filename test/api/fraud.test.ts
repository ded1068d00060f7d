/**
 * Fraud checks through the running app (see docs/architecture.md, "Fraud"): what /r and the member app
 * keep of a visitor (keyed hashes of IP, /24 or /48 and device — never the IP), and what a
 * signed payment.succeeded does with them at conversion: fraud_checks rows, the score, the
 * hold, and a webhook payload with no email, card or address in it. Expected hashes are
 * HMAC-SHA256 computed here with the server's REFERLY_HASH_SECRET (inject("hashSecret")).
 */
import { createHmac } from "node:crypto";
import { describe, expect, inject, it } from "vitest";
import {
  apiCodeFor as codeFor,
  apiOne as one,
  apiRows as rows,
  apiSettings as settings,
  deliver,
  ids,
  paymentEvent,
  userToken,
  whopCompany,
  type Ids,
} from "../helpers";

const H = (namespace: string, value: string) => createHmac("sha256", inject("hashSecret")).update(`${namespace}:${value}`).digest("hex");

const CHROME =
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";
const FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0";

/** A browser's headers: every part of the device fingerprint is set, so the test knows it. */
function browser(o: { ip?: string; ua?: string; lang?: string } = {}) {
  const h: Record<string, string> = {
    "user-agent": o.ua ?? CHROME,
    "sec-ch-ua": '"Chromium";v="131", "Not_A Brand";v="24"',
    "sec-ch-ua-platform": '"macOS"',
    "sec-ch-ua-mobile": "?0",
    "accept-language": o.lang ?? "en-US,en;q=0.9",
    accept: "text/html",
  };
  if (o.ip !== undefined) h["x-forwarded-for"] = o.ip;
  return h;
}
const deviceHash = (h: Record<string, string>) =>
  H("device", [h["user-agent"], h["sec-ch-ua"], h["sec-ch-ua-platform"], h["sec-ch-ua-mobile"], h["accept-language"]].join("\n"));

/** A program whose link redirects to a landing page (no checkout), fast_conversion off unless asked. */
async function program(c: Ids, s: Record<string, unknown> = {}) {
  const code = await codeFor(c.company, c.referrer);
  await settings(c.company, { landing_url: "https://landing.example/join", fraud_min_seconds: 0, ...s });
  return code;
}

/** GET /r/CODE with these headers; the stored click (the latest of the code). */
async function click(code: string, headers: Record<string, string>) {
  const res = await fetch(`${inject("apiUrl")}/r/${code}`, { redirect: "manual", headers });
  const [row] = await rows(
    `select k.* from public.referral_clicks k join public.referral_codes c on c.id = k.code_id
     where c.code = $1 order by k.created_at desc, k.id desc limit 1`,
    [code],
  );
  return { status: res.status, location: res.headers.get("location"), row };
}

/** The member opens the member app as `userId` from these headers. */
async function openMemberApp(c: Ids, userId: string, headers: Record<string, string>) {
  const res = await fetch(`${inject("apiUrl")}/experiences/${c.experience}`, {
    redirect: "manual",
    headers: { ...headers, "x-whop-user-token": await userToken(userId) },
  });
  await res.text();
  return res.status;
}

/** A signed payment.succeeded by `user` (default the referee) with these data fields merged in. */
function payment(c: Ids, metadata: Record<string, unknown> | null, data: Record<string, unknown> = {}, user = { id: c.referee, username: "bob", name: "Bob Buyer" }) {
  const event = paymentEvent(c, { metadata, user });
  Object.assign(event.data, data);
  return event;
}

const referralOf = (c: Ids, referee = c.referee) =>
  one(`select * from public.referrals where company_id = $1 and referee_user_id = $2`, [c.company, referee]);
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function checksOf(referralId: string): Promise<Record<string, any>> {
  const r = await rows(`select check_type, flagged, weight, details from public.fraud_checks where referral_id = $1`, [referralId]);
  return Object.fromEntries(r.map((x) => [x.check_type, x]));
}
const commissionsOf = (paymentId: string) => rows(`select * from public.commissions where payment_id = $1 order by level`, [paymentId]);

describe("/r/CODE keeps keyed hashes of the visitor, never the IP", () => {
  it("x-forwarded-for '203.0.113.7, 10.0.0.1' → the first hop's hash and its /24's; the device's hash; no raw IP in the row", async () => {
    const c = ids();
    const code = await program(c);
    const headers = browser({ ip: "203.0.113.7, 10.0.0.1" });
    const k = await click(code, headers);
    expect(k.status).toBe(302);
    expect(k.location).toBe(`https://landing.example/join?ref=${code}`);
    expect(k.row).toMatchObject({
      ip_hash: H("ip", "203.0.113.7"),
      ip_prefix_hash: H("net", "203.0.113.0/24"),
      device_hash: deviceHash(headers),
      visitor_hash: H("visitor", `203.0.113.7|${CHROME}`),
      counted: true,
    });
    const [{ text }] = await rows(`select k::text as text from public.referral_clicks k where id = $1`, [k.row.id]);
    for (const raw of ["203.0.113", "10.0.0.1"]) expect(text).not.toContain(raw);
  });

  it("a forged or garbled x-forwarded-for stores no IP hash, and the link still redirects", async () => {
    const c = ids();
    const code = await program(c);
    for (const forged of ["<script>alert(1)</script>", "unknown", "1.2.3.4.5", "127.1", `${"9".repeat(200)}`, "2001:db8::1%eth0, 203.0.113.7"]) {
      const headers = browser({ ip: forged });
      const k = await click(code, headers);
      expect(k.status, forged).toBe(302);
      expect(k.location).toBe(`https://landing.example/join?ref=${code}`);
      expect(k.row, forged).toMatchObject({ ip_hash: null, ip_prefix_hash: null, device_hash: deviceHash(headers) });
      expect(k.row.visitor_hash).toBe(H("visitor", `unknown|${CHROME}`));
    }
  });

  it("IPv6 → the address's hash and its /48's; IPv4-mapped IPv6 counts as the IPv4", async () => {
    const c = ids();
    const code = await program(c);
    const v6 = await click(code, browser({ ip: "2001:DB8:abcd:0012:0:0:0:1" }));
    expect(v6.status).toBe(302);
    expect(v6.row).toMatchObject({ ip_hash: H("ip", "2001:db8:abcd:12::1"), ip_prefix_hash: H("net", "2001:db8:abcd::/48") });
    const mapped = await click(code, browser({ ip: "::ffff:198.51.100.20" }));
    expect(mapped.row).toMatchObject({ ip_hash: H("ip", "198.51.100.20"), ip_prefix_hash: H("net", "198.51.100.0/24") });
  });
});

describe("a conversion is checked against where the referrer was seen", () => {
  it("the referrer opened the member app from an IP; a buyer from that IP (another browser) → ip_duplicate flagged, money proceeds", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    const memberHeaders = browser({ ip: "198.51.100.44" });
    expect(await openMemberApp(c, c.referrer, memberHeaders)).toBe(200);
    const code = await program(c);

    const sightings = await rows(
      `select kind, hash, source from public.member_sightings where company_id = $1 and user_id = $2 order by kind`,
      [c.company, c.referrer],
    );
    expect(sightings).toEqual([
      { kind: "device", hash: deviceHash(memberHeaders), source: "member_app" },
      { kind: "ip", hash: H("ip", "198.51.100.44"), source: "member_app" },
      { kind: "ip_prefix", hash: H("net", "198.51.100.0/24"), source: "member_app" },
    ]);

    const k = await click(code, browser({ ip: "198.51.100.44, 10.1.2.3", ua: FIREFOX }));
    const event = payment(c, { referral_code: code, click_id: k.row.id });
    const r = await deliver(event);
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "commission_created" });

    const ref = await referralOf(c);
    expect(ref).toMatchObject({ status: "converted", click_id: k.row.id, fraud_status: "flagged", fraud_score: 30 });
    const checks = await checksOf(ref.id);
    expect(Object.keys(checks).sort()).toEqual(
      ["device_duplicate", "disposable_email", "email_duplicate", "fast_conversion", "ip_duplicate", "ring", "self_referral", "velocity_limit"],
    );
    expect(checks.ip_duplicate).toMatchObject({ flagged: true, weight: 30, details: { seen: "member_app" } });
    expect(new Date(checks.ip_duplicate.details.seen_at).getTime()).toBeLessThanOrEqual(Date.now());
    expect(checks.device_duplicate).toMatchObject({ flagged: false, details: { checked: "no_match" } });
    expect(Object.values(checks).filter((x) => x.flagged).map((x) => x.check_type)).toEqual(["ip_duplicate"]);
    expect(await commissionsOf(event.data.id)).toMatchObject([{ beneficiary_user_id: c.referrer, status: "pending", amount_cents: "1000" }]);
    // the evidence holds no raw IP either
    const [{ text }] = await rows(`select coalesce(string_agg(f::text, ' '), '') as text from public.fraud_checks f where referral_id = $1`, [ref.id]);
    expect(text).not.toContain("198.51.100");
  });

  it("the same IP and the same browser → ip_duplicate + device_duplicate = 60 ≥ 50: held, commission on_hold, no points", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    const headers = browser({ ip: "198.51.100.45" });
    expect(await openMemberApp(c, c.referrer, headers)).toBe(200);
    const code = await program(c);

    const k = await click(code, browser({ ip: "198.51.100.45" }));
    expect(k.row.device_hash).toBe(deviceHash(headers));
    const event = payment(c, { referral_code: code, click_id: k.row.id });
    const r = await deliver(event);
    expect(r.json).toEqual({ ok: true, duplicate: false, outcome: "commission_held" });

    const ref = await referralOf(c);
    expect(ref).toMatchObject({ status: "converted", fraud_status: "held", fraud_score: 60 });
    const checks = await checksOf(ref.id);
    expect(checks.ip_duplicate).toMatchObject({ flagged: true, weight: 30, details: { seen: "member_app" } });
    expect(checks.device_duplicate).toMatchObject({ flagged: true, weight: 30, details: { seen: "member_app" } });
    const commissions = await commissionsOf(event.data.id);
    expect(commissions).toMatchObject([{ beneficiary_user_id: c.referrer, status: "on_hold", amount_cents: "1000" }]);
    const points = await rows(`select 1 from public.transactions where company_id = $1 and kind = 'points'`, [c.company]);
    expect(points).toHaveLength(0);
  });

  it("the same /24 but another address is noted, not flagged; a click seconds before paying → fast_conversion", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    expect(await openMemberApp(c, c.referrer, browser({ ip: "198.51.100.46" }))).toBe(200);
    const code = await program(c, { fraud_min_seconds: 60 });

    const k = await click(code, browser({ ip: "198.51.100.47", ua: FIREFOX }));
    const r = await deliver(payment(c, { referral_code: code, click_id: k.row.id }));
    expect(r.json).toMatchObject({ outcome: "commission_created" });
    const ref = await referralOf(c);
    const checks = await checksOf(ref.id);
    expect(checks.ip_duplicate).toMatchObject({ flagged: false, details: { same_network: true, seen: "member_app" } });
    expect(checks.fast_conversion).toMatchObject({ flagged: true, weight: 20, details: { minimum: 60 } });
    expect(checks.fast_conversion.details.seconds).toBeLessThan(60);
    expect(ref).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
  });

  it("fraud_mode off: the same IP and browser check nothing and hold nothing", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    expect(await openMemberApp(c, c.referrer, browser({ ip: "198.51.100.48" }))).toBe(200);
    const code = await program(c, { fraud_mode: "off" });
    const k = await click(code, browser({ ip: "198.51.100.48" }));
    const r = await deliver(payment(c, { referral_code: code, click_id: k.row.id }));
    expect(r.json).toMatchObject({ outcome: "commission_created" });
    const ref = await referralOf(c);
    expect(ref).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    expect(await checksOf(ref.id)).toEqual({});
  });
});

describe("payment.succeeded: email and card become signals, never stored", () => {
  /** What Whop sends of the buyer: an email (member:email:read) and a card, with or without a billing address. */
  const card = (postal: string | null, email: string | null, last4 = "4242") => ({
    email,
    fields: {
      card_brand: "visa",
      card_last4: last4,
      billing_address:
        postal === null
          ? null
          : { name: "Bob Buyer", line1: "1 Market St", line2: null, city: "San Francisco", state: "CA", postal_code: postal, country: "US" },
    },
  });
  function pay(c: Ids, metadata: Record<string, unknown> | null, user: { id: string; username: string; name: string }, o: ReturnType<typeof card>) {
    const event = payment(c, metadata, o.fields, user);
    Object.assign(event.data.user!, { email: o.email });
    return event;
  }
  const alice = (c: Ids) => ({ id: c.referrer, username: "alice", name: "Alice Referrer" });
  const bob = (c: Ids) => ({ id: c.referee, username: "bob", name: "Bob Buyer" });

  it("the stored payload has no email, card or address; the user keeps the normalised email; the payment the card's hash", async () => {
    const c = ids();
    const code = await program(c);
    const event = pay(c, { referral_code: code }, bob(c), card("94107", "Bob.Buyer+deals@GoogleMail.com"));
    const r = await deliver(event);
    expect(r.status).toBe(200);

    const [ev] = await rows(`select payload, payload::text as text from public.webhook_events where event_id = $1`, [event.id]);
    for (const secret of ["email", "Bob.Buyer", "bobbuyer", "googlemail", "gmail", "card_last4", "card_brand", "4242", "billing_address", "94107", "Market St", "referly_signals", "method_hash"]) {
      expect(ev.text, secret).not.toContain(secret);
    }
    // what the handlers read is still there
    expect(ev.payload).toMatchObject({ id: event.data.id, total: 49.99, currency: "usd", user: { id: c.referee }, metadata: { referral_code: code } });

    expect(await one(`select email_normalized from public.users where company_id = $1 and user_id = $2`, [c.company, c.referee])).toEqual({
      email_normalized: "bobbuyer@gmail.com",
    });
    expect(await one(`select method_hash from public.payments where payment_id = $1`, [event.data.id])).toEqual({
      method_hash: H("card", "visa|4242|94107"),
    });
    // nothing matched: a clean conversion, with no fraud_checks rows stored
    const ref = await referralOf(c);
    expect(ref).toMatchObject({ status: "converted", fraud_status: "clear", fraud_score: 0 });
    expect(await checksOf(ref.id)).toEqual({});
  });

  it("fraud-only fields out of shape (an overlong email, postal code or brand, a 5-digit last4) give no signal, never a refused payment", async () => {
    const c = ids();
    const code = await program(c);
    const event = payment(c, { referral_code: code }, {
      card_brand: "v".repeat(60),
      card_last4: "42424",
      billing_address: { postal_code: "9".repeat(40) },
    });
    Object.assign(event.data.user!, { email: `${"a".repeat(330)}@example.com` });
    const r = await deliver(event);
    expect(r).toEqual({ status: 200, json: { ok: true, duplicate: false, outcome: "commission_created" } });
    expect(await one(`select method_hash from public.payments where payment_id = $1`, [event.data.id])).toEqual({ method_hash: null });
    expect(await one(`select email_normalized from public.users where company_id = $1 and user_id = $2`, [c.company, c.referee])).toEqual({
      email_normalized: null,
    });
  });

  it("the buyer's card (brand, last4, postal code) is the referrer's own → self_referral with the card in words, held", async () => {
    const c = ids();
    const code = await program(c);
    // alice paid for her own membership first
    const own = pay(c, null, alice(c), card("94107", "alice@example.com"));
    expect((await deliver(own)).json).toMatchObject({ outcome: "no_attribution" });

    const event = pay(c, { referral_code: code }, bob(c), card("94 107", "bob@example.com"));
    expect((await deliver(event)).json).toMatchObject({ outcome: "commission_held" });
    const ref = await referralOf(c);
    expect(ref).toMatchObject({ fraud_status: "held", fraud_score: 60 });
    const checks = await checksOf(ref.id);
    expect(checks.self_referral).toMatchObject({
      flagged: true,
      weight: 60,
      details: { match: "payment_method", user_id: c.referrer, card_brand: "visa", card_last4: "4242" },
    });
    expect(checks.email_duplicate).toMatchObject({ flagged: false, details: { checked: "different" } });
    expect(await commissionsOf(event.data.id)).toMatchObject([{ status: "on_hold" }]);
  });

  it("the same card from another postal code is not the referrer's", async () => {
    const c = ids();
    const code = await program(c);
    expect((await deliver(pay(c, null, alice(c), card("94107", null)))).json).toMatchObject({ outcome: "no_attribution" });
    // carol: the same brand and last4 from another postal code, nothing else → clean, nothing stored
    const carol = { id: c.other, username: "carol", name: "Carol" };
    const carolPay = pay(c, { referral_code: code }, carol, card("10001", null));
    expect((await deliver(carolPay)).json).toMatchObject({ outcome: "commission_created" });
    const carolRef = await referralOf(c, c.other);
    expect(carolRef).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    expect(await checksOf(carolRef.id)).toEqual({});
    expect(await one(`select method_hash from public.payments where payment_id = $1`, [carolPay.data.id])).toEqual({
      method_hash: H("card", "visa|4242|10001"),
    });
    // bob: the same, from a throwaway address (disposable_email flags 20, so the eight rows are kept)
    const bobPay = pay(c, { referral_code: code }, bob(c), card("10001", "bob@mailinator.com"));
    expect((await deliver(bobPay)).json).toMatchObject({ outcome: "commission_created" });
    const ref = await referralOf(c);
    expect(ref).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
    const checks = await checksOf(ref.id);
    expect(Object.keys(checks)).toHaveLength(8);
    expect(checks.self_referral).toMatchObject({ flagged: false, details: { checked: "payment_method" } });
    expect(Object.values(checks).filter((x) => x.flagged).map((x) => x.check_type)).toEqual(["disposable_email"]);
  });

  it("a card without a billing postal code has no method hash: the referrer's brand and last4 alone flag nothing", async () => {
    const c = ids();
    const code = await program(c);
    // alice paid with visa 4242 without a billing address, then with one
    const own = pay(c, null, alice(c), card(null, null));
    expect((await deliver(own)).json).toMatchObject({ outcome: "no_attribution" });
    expect((await deliver(pay(c, null, alice(c), card("94107", null)))).json).toMatchObject({ outcome: "no_attribution" });
    expect(await one(`select method_hash from public.payments where payment_id = $1`, [own.data.id])).toEqual({ method_hash: null });
    // carol: visa 4242, no postal code, nothing else → no hash, clean, nothing stored
    const carol = { id: c.other, username: "carol", name: "Carol" };
    const carolPay = pay(c, { referral_code: code }, carol, card(null, null));
    expect((await deliver(carolPay)).json).toMatchObject({ outcome: "commission_created" });
    expect(await one(`select method_hash from public.payments where payment_id = $1`, [carolPay.data.id])).toEqual({ method_hash: null });
    const carolRef = await referralOf(c, c.other);
    expect(carolRef).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    expect(await checksOf(carolRef.id)).toEqual({});
    // an empty or blank postal code is no postal code either
    for (const [who, postal] of [["dan", ""], ["eve", "   "]] as const) {
      const buyer = { id: `${c.other}_${who}`, username: who, name: who };
      const p = pay(c, { referral_code: code }, buyer, card(postal, null));
      expect((await deliver(p)).json, JSON.stringify(postal)).toMatchObject({ outcome: "commission_created" });
      expect(await one(`select method_hash from public.payments where payment_id = $1`, [p.data.id]), JSON.stringify(postal)).toEqual({
        method_hash: null,
      });
      expect(await referralOf(c, buyer.id), JSON.stringify(postal)).toMatchObject({ fraud_status: "clear", fraud_score: 0 });
    }
    // bob: the same card from a throwaway address keeps the rows: there was no payment method to compare
    const bobPay = pay(c, { referral_code: code }, bob(c), card(null, "bob@mailinator.com"));
    expect((await deliver(bobPay)).json).toMatchObject({ outcome: "commission_created" });
    const ref = await referralOf(c);
    expect(ref).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
    const checks = await checksOf(ref.id);
    expect(checks.self_referral).toMatchObject({ flagged: false, weight: 60, details: { checked: "no_payment_method" } });
    expect(Object.values(checks).filter((x) => x.flagged).map((x) => x.check_type)).toEqual(["disposable_email"]);
  });

  it("a mailinator address → disposable_email (20, flagged, not held); the referrer's Gmail with dots and a +tag → email_duplicate", async () => {
    const c = ids();
    const code = await program(c);
    const temp = pay(c, { referral_code: code }, bob(c), card(null, "Temp.Person@Mailinator.com"));
    expect((await deliver(temp)).json).toMatchObject({ outcome: "commission_created" });
    const ref = await referralOf(c);
    expect(ref).toMatchObject({ fraud_status: "flagged", fraud_score: 20 });
    const checks = await checksOf(ref.id);
    expect(checks.disposable_email).toMatchObject({ flagged: true, weight: 20, details: { domain: "mailinator.com" } });
    expect(checks.email_duplicate).toMatchObject({ flagged: false, details: { checked: "no_referrer_email" } });

    // alice's email is known from her own payment; carol pays with alice's address, disguised
    expect((await deliver(pay(c, null, alice(c), card(null, "alice.smith@gmail.com", "1111")))).json).toMatchObject({ outcome: "no_attribution" });
    const carol = { id: c.other, username: "carol", name: "Carol" };
    const dup = pay(c, { referral_code: code }, carol, card(null, "Alice.S.mith+2@googlemail.com", "5555"));
    expect((await deliver(dup)).json).toMatchObject({ outcome: "commission_held" });
    const carolRef = await referralOf(c, c.other);
    expect(carolRef).toMatchObject({ fraud_status: "held", fraud_score: 60 });
    expect((await checksOf(carolRef.id)).email_duplicate).toMatchObject({ flagged: true, weight: 60, details: { match: "exact" } });
  });
});

describe("exactly once", () => {
  it("one signed event delivered concurrently → one answer applies it: one set of checks, one commission", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.referrer]: "customer" });
    expect(await openMemberApp(c, c.referrer, browser({ ip: "198.51.100.49" }))).toBe(200);
    const code = await program(c);
    const k = await click(code, browser({ ip: "198.51.100.49" }));
    const event = payment(c, { referral_code: code, click_id: k.row.id });
    Object.assign(event.data, { card_brand: "visa", card_last4: "4242", billing_address: { postal_code: "94107" } });
    Object.assign(event.data.user!, { email: "x@mailinator.com" });

    const answers = await Promise.all(Array.from({ length: 8 }, () => deliver(event)));
    expect(answers.map((a) => a.status)).toEqual(Array(8).fill(200));
    expect(answers.filter((a) => a.json?.duplicate === false)).toHaveLength(1);
    expect(answers.map((a) => a.json?.outcome)).toEqual(Array(8).fill("commission_held"));

    const ref = await referralOf(c);
    expect(ref).toMatchObject({ fraud_status: "held", fraud_score: 80 });
    const all = await rows(`select check_type, flagged from public.fraud_checks where company_id = $1`, [c.company]);
    expect(all).toHaveLength(8);
    expect(all.filter((x) => x.flagged).map((x) => x.check_type).sort()).toEqual(["device_duplicate", "disposable_email", "ip_duplicate"]);
    expect(await rows(`select 1 from public.commissions where company_id = $1`, [c.company])).toHaveLength(1);
    expect(await rows(`select 1 from public.transactions where company_id = $1 and kind = 'commission'`, [c.company])).toHaveLength(1);
    expect(
      await rows(`select 1 from public.member_sightings where company_id = $1 and user_id = $2 and source = 'own_click'`, [c.company, c.referee]),
    ).toHaveLength(3);
  });
});
