/**
 * lib/fraud at the boundary where request and payment data become evidence: client IPs
 * read from forged or garbled headers, /24 and /48 prefixes, device fingerprints, email
 * normalisation, the throwaway-domain list, the card hash, and the words a creator reads.
 * Hashes are checked against an HMAC computed here with node:crypto, not with keyedHash.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";

// env() parses process.env once, on first use (lib/env.ts): the key is set before any call,
// in demo mode (env() wants Whop credentials or REFERLY_DEMO=1, and this needs neither)
const SECRET = "unit_test_hash_secret_0123456789abcdef";
process.env.REFERLY_HASH_SECRET = SECRET;
process.env.REFERLY_DEMO = "1";
const fraud = await import("../../lib/fraud");
const { clientIp, explainCheck, ipPrefix, isDisposableEmail, keyedHash, normalizeEmail, paymentSignals, requestFingerprint } = fraud;

const hmac = (namespace: string, value: string) => createHmac("sha256", SECRET).update(`${namespace}:${value}`).digest("hex");
const xff = (v: string) => new Headers({ "x-forwarded-for": v });
const CHROME = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36";

describe("keyedHash", () => {
  it("is HMAC-SHA256 of `namespace:value` under REFERLY_HASH_SECRET, hex; namespaces never collide", () => {
    expect(keyedHash("ip", "203.0.113.7")).toBe(hmac("ip", "203.0.113.7"));
    expect(keyedHash("ip", "203.0.113.7")).toMatch(/^[0-9a-f]{64}$/);
    expect(keyedHash("ip", "x")).not.toBe(keyedHash("device", "x"));
    // keyed: the plain SHA-256 of the address (what a dictionary attack would try) is not it
    expect(keyedHash("ip", "203.0.113.7")).not.toBe(createHmac("sha256", "").update("ip:203.0.113.7").digest("hex"));
  });
});

describe("normalizeEmail", () => {
  it("Gmail and Googlemail: dots and +tags removed, one domain", () => {
    expect(normalizeEmail("J.o.h.n.Smith+promo@Gmail.com")).toBe("johnsmith@gmail.com");
    expect(normalizeEmail("john.smith@googlemail.com")).toBe("johnsmith@gmail.com");
    expect(normalizeEmail("johnsmith+a+b@gmail.com")).toBe("johnsmith@gmail.com");
  });

  it("other domains keep their dots but lose the +tag; case and spaces around do not count", () => {
    expect(normalizeEmail("Jane.Doe+news@Example.COM")).toBe("jane.doe@example.com");
    expect(normalizeEmail("  jane.doe@example.com ")).toBe("jane.doe@example.com");
    expect(normalizeEmail("a.b@outlook.com")).not.toBe(normalizeEmail("ab@outlook.com"));
  });

  it("anything that is not an address → null", () => {
    for (const bad of [null, undefined, "", "nope", "@example.com", "jane@", "jane@localhost", "a@b@example.com", "jane doe@example.com",
      "+tag@gmail.com", "...@gmail.com", "jane@-example.com", "jane@example..com", `${"a".repeat(65)}@example.com`, `a@${"b".repeat(320)}.com`]) {
      expect(normalizeEmail(bad), String(bad)).toBeNull();
    }
  });
});

describe("isDisposableEmail (mailchecker's list)", () => {
  it("throwaway domains and their subdomains yes; ordinary and unusual-but-real addresses no", () => {
    expect(isDisposableEmail("someone@mailinator.com")).toBe(true);
    expect(isDisposableEmail("someone@sub.mailinator.com")).toBe(true);
    expect(isDisposableEmail("someone@gmail.com")).toBe(false);
    expect(isDisposableEmail("o'brien@example.com")).toBe(false);
    // mailchecker's syntax rule refuses these; the domain is what is judged
    expect(isDisposableEmail("user@例子.广告")).toBe(false);
    expect(isDisposableEmail("a..b@example.com")).toBe(false);
  });
});

describe("clientIp", () => {
  it("the first hop of x-forwarded-for, else x-real-ip", () => {
    expect(clientIp(xff("203.0.113.7, 10.0.0.1, 172.16.0.1"))).toBe("203.0.113.7");
    expect(clientIp(xff(" 203.0.113.7 "))).toBe("203.0.113.7");
    expect(clientIp(new Headers({ "x-real-ip": "198.51.100.4" }))).toBe("198.51.100.4");
    expect(clientIp(new Headers({ "x-forwarded-for": "", "x-real-ip": "198.51.100.4" }))).toBe("198.51.100.4");
    expect(clientIp(new Headers({ "x-forwarded-for": "203.0.113.7", "x-real-ip": "198.51.100.4" }))).toBe("203.0.113.7");
    expect(clientIp(new Headers())).toBeNull();
  });

  it("forged or garbled values → null, never a guess (nor the x-real-ip behind them)", () => {
    const bad = ["1.2.3.4.5", "<script>", "unknown", "1.2.3.4:8080", "[2001:db8::1]", "2001:db8::1%eth0", "fe80::1%25eth0",
      // forms ipaddr.js reads as IPv4 but no proxy writes: classful, hex, octal, one number
      "1", "127.1", "1.2.3", "0x7f.0.0.1", "010.0.0.1", "4294967295", "1.2.3.04", "256.1.1.1",
      `${"1".repeat(70)}`, `2001:db8::${"0".repeat(60)}1`, "1.2.3.4 5.6.7.8", "_; DROP TABLE x"];
    for (const v of bad) expect(clientIp(xff(v)), v).toBeNull();
    expect(clientIp(new Headers({ "x-forwarded-for": "unknown, 203.0.113.7", "x-real-ip": "198.51.100.4" }))).toBeNull();
    expect(clientIp(new Headers({ "x-real-ip": "not an ip" }))).toBeNull();
  });

  it("IPv4-mapped IPv6 counts as IPv4; IPv6 is normalised (RFC 5952)", () => {
    expect(clientIp(xff("::ffff:203.0.113.7"))).toBe("203.0.113.7");
    expect(clientIp(xff("::FFFF:cb00:7107"))).toBe("203.0.113.7");
    expect(clientIp(xff("2001:0DB8:0000:0000:0000:0000:0000:0001"))).toBe("2001:db8::1");
    expect(clientIp(xff("2001:db8:0:0:1:0:0:1"))).toBe("2001:db8::1:0:0:1");
    expect(clientIp(xff("2001:db8::1, 10.0.0.1"))).toBe("2001:db8::1");
  });
});

describe("ipPrefix", () => {
  it("/24 for IPv4, /48 for IPv6, in canonical text", () => {
    expect(ipPrefix("203.0.113.7")).toBe("203.0.113.0/24");
    expect(ipPrefix("203.0.113.255")).toBe("203.0.113.0/24");
    expect(ipPrefix("2001:db8:abcd:12::1")).toBe("2001:db8:abcd::/48");
    expect(ipPrefix("2001:db8::1")).toBe("2001:db8::/48");
    expect(ipPrefix("2001:db8:0:ffff::1")).toBe(ipPrefix("2001:db8::2"));
    expect(ipPrefix("2001:db8:1::1")).not.toBe(ipPrefix("2001:db8::1"));
  });
});

describe("requestFingerprint", () => {
  const browser = (o: Record<string, string> = {}) =>
    new Headers({
      "x-forwarded-for": "203.0.113.7, 10.0.0.1",
      "user-agent": CHROME,
      "sec-ch-ua": '"Chromium";v="131", "Not_A Brand";v="24"',
      "sec-ch-ua-platform": '"macOS"',
      "sec-ch-ua-mobile": "?0",
      "accept-language": "en-US,en;q=0.9",
      ...o,
    });

  it("hashes the IP, its /24 and the device; no raw IP in any hash", () => {
    const f = requestFingerprint(browser());
    expect(f.ipHash).toBe(hmac("ip", "203.0.113.7"));
    expect(f.ipPrefixHash).toBe(hmac("net", "203.0.113.0/24"));
    expect(f.deviceHash).toBe(
      hmac("device", [CHROME, '"Chromium";v="131", "Not_A Brand";v="24"', '"macOS"', "?0", "en-US,en;q=0.9"].join("\n")),
    );
    const v6 = requestFingerprint(browser({ "x-forwarded-for": "2001:db8:abcd:12::1" }));
    expect(v6.ipHash).toBe(hmac("ip", "2001:db8:abcd:12::1"));
    expect(v6.ipPrefixHash).toBe(hmac("net", "2001:db8:abcd::/48"));
  });

  it("no IP → null IP hashes (the device still counts); no user agent → no device", () => {
    const f = requestFingerprint(browser({ "x-forwarded-for": "garbage" }));
    expect(f).toMatchObject({ ip: null, ipHash: null, ipPrefixHash: null });
    expect(f.deviceHash).toMatch(/^[0-9a-f]{64}$/);
    expect(requestFingerprint(new Headers({ "x-forwarded-for": "203.0.113.7" })).deviceHash).toBeNull();
  });

  it("same user agent + client hints + language → same device whatever the IP; another language or platform → another", () => {
    const a = requestFingerprint(browser());
    const b = requestFingerprint(browser({ "x-forwarded-for": "198.51.100.9" }));
    expect(b.deviceHash).toBe(a.deviceHash);
    expect(b.ipHash).not.toBe(a.ipHash);
    expect(requestFingerprint(browser({ "accept-language": "de-DE,de;q=0.9" })).deviceHash).not.toBe(a.deviceHash);
    expect(requestFingerprint(browser({ "sec-ch-ua-platform": '"Windows"' })).deviceHash).not.toBe(a.deviceHash);
    // a value moved from one header to another is another device (the parts stay apart)
    const moved = requestFingerprint(browser({ "sec-ch-ua-platform": "", "sec-ch-ua-mobile": '"macOS"' }));
    expect(moved.deviceHash).not.toBe(a.deviceHash);
  });
});

describe("paymentSignals", () => {
  const card = { card_brand: "visa", card_last4: "4242", billing_address: { postal_code: "94107" } };

  it("no card → no method hash; the email normalised and judged", () => {
    expect(paymentSignals({ user: { email: "J.Doe+x@GoogleMail.com" } })).toEqual({
      email: "jdoe@gmail.com",
      email_disposable: false,
      method_hash: null,
      card_brand: null,
      card_last4: null,
    });
    expect(paymentSignals({ user: { email: "temp@mailinator.com" } })).toMatchObject({ email: "temp@mailinator.com", email_disposable: true });
    expect(paymentSignals({ user: { email: "not-an-email" } })).toMatchObject({ email: null, email_disposable: false });
    expect(paymentSignals({ card_brand: "unknown", card_last4: "4242" }).method_hash).toBeNull();
    expect(paymentSignals({ card_brand: "visa", card_last4: "42a2" }).method_hash).toBeNull();
  });

  it("method hash = keyed brand|last4|postal; the postal code's spaces and case do not count", () => {
    const s = paymentSignals(card);
    expect(s).toMatchObject({ card_brand: "visa", card_last4: "4242", email: null });
    expect(s.method_hash).toBe(hmac("card", "visa|4242|94107"));
    expect(paymentSignals({ ...card, billing_address: { postal_code: "sw1a 1aa" } }).method_hash).toBe(hmac("card", "visa|4242|SW1A1AA"));
  });

  it("same card, another postal code (or brand) → another hash", () => {
    const a = paymentSignals(card).method_hash;
    expect(paymentSignals({ ...card, billing_address: { postal_code: "10001" } }).method_hash).not.toBe(a);
    expect(paymentSignals({ ...card, card_brand: "mastercard" }).method_hash).not.toBe(a);
    expect(paymentSignals({ ...card, card_last4: "4243" }).method_hash).not.toBe(a);
    expect(paymentSignals({ ...card }).method_hash).toBe(a);
  });
});

describe("explainCheck: each signal in words", () => {
  const at = "2026-11-03T12:00:00Z";
  const w = (check_type: (typeof fraud.CHECK_TYPES)[number], details: Record<string, unknown>, who?: string) =>
    explainCheck({ check_type, weight: 10, details }, "alex", who);

  it("self_referral", () => {
    expect(w("self_referral", { match: "payment_method", user_id: "user_alex", paid_at: at, card_brand: "visa", card_last4: "4242" })).toBe(
      "Same card (Visa ending 4242) as alex's own payment on Nov 3",
    );
    expect(w("self_referral", { match: "payment_method", user_id: "user_alex", paid_at: at, card_brand: "amex", card_last4: "0005" }, "user_alex")).toBe(
      "Same card (Amex ending 0005) as alex's own payment on Nov 3",
    );
    expect(w("self_referral", { match: "payment_method", user_id: "user_boss", paid_at: at, card_brand: "visa", card_last4: "4242" }, "user_alex")).toBe(
      "Same card (Visa ending 4242) as a payment by user_boss, above alex in the referral chain, on Nov 3",
    );
    
  });

  it("ip_duplicate and device_duplicate say where the referrer was seen", () => {
    expect(w("ip_duplicate", { seen: "member_app", seen_at: at })).toBe("Same IP address as alex used opening the member app (first seen Nov 3)");
    expect(w("ip_duplicate", { seen: "own_click", seen_at: at })).toBe("Same IP address as alex used on the link that brought them in (first seen Nov 3)");
    expect(w("device_duplicate", { seen: "member_app", seen_at: at })).toBe(
      "Same device and browser as alex used opening the member app (first seen Nov 3)",
    );
  });

  it("email_duplicate, disposable_email, velocity_limit, fast_conversion, ring", () => {
    expect(w("email_duplicate", { match: "exact" })).toBe("Same email address as alex (after removing dots and +tags)");
    expect(w("email_duplicate", { match: "similar", distance: 1 })).toBe("Email address nearly the same as alex's (1 character apart)");
    expect(w("email_duplicate", { match: "similar", distance: 2 })).toBe("Email address nearly the same as alex's (2 characters apart)");
    expect(w("disposable_email", { domain: "mailinator.com" })).toBe("Throwaway email domain (mailinator.com)");
    expect(w("velocity_limit", { last_hour: 6, last_day: 7, limit_hour: 5, limit_day: 20 })).toBe(
      "alex converted 6 in the last hour and 7 in the last day (limits 5 and 20)",
    );
    expect(w("fast_conversion", { seconds: 3.2, minimum: 10 })).toBe("Paid 3.2 seconds after clicking the link (minimum 10)");
    expect(w("ring", { level: 1 })).toBe("alex was referred by this buyer before (directly): a referral ring");
    expect(w("ring", { level: 3 })).toBe("alex was referred by this buyer before (3 levels up): a referral ring");
  });

  it("every check type has words and settings help", () => {
    for (const t of fraud.CHECK_TYPES) {
      expect(w(t, {}).length, t).toBeGreaterThan(10);
      expect(fraud.CHECK_HELP[t].title.length, t).toBeGreaterThan(2);
    }
  });
});
