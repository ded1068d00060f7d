/**
 * Fraud checks (see docs/architecture.md, "Fraud"; SQL: supabase/schemas/40_fraud.sql —
 * run_fraud_checks decides inside the payment's transaction, decide_referral(s) applies a
 * creator's review, list_fraud_queue / get_member_fraud read it).
 *
 * This module is the boundary where raw request and payment data become evidence that is
 * safe to store: client IPs, IP prefixes (/24 for IPv4, /48 for IPv6) and devices become
 * keyed HMAC-SHA256 hashes (secret REFERLY_HASH_SECRET; the launcher generates one in
 * demo mode), emails are normalised (lower case; Gmail dots and +tags removed) and checked
 * against mailchecker's list of throwaway domains, and a card becomes a hash of brand +
 * last4 + billing postal code. No raw IP, email or card reaches a table or a log.
 */
import { createHmac } from "node:crypto";
import ipaddr from "ipaddr.js";
import MailChecker from "mailchecker";
import { z } from "zod";
import { rpc } from "../db";
import { env } from "../env";
import { Page } from "../lists";

// ── Hashing ──────────────────────────────────────────────────────────────────

/** The HMAC key. Throws when REFERLY_HASH_SECRET is missing outside demo mode. */
function secret(): string {
  const s = env().REFERLY_HASH_SECRET;
  if (!s) throw new Error("REFERLY_HASH_SECRET is not set: give it 32+ random characters (openssl rand -hex 32)");
  return s;
}

/** Keyed hash of `value` in a namespace (so an IP and a device can never collide): 64 hex chars. */
export function keyedHash(namespace: string, value: string): string {
  return createHmac("sha256", secret()).update(`${namespace}:${value}`).digest("hex");
}

/**
 * The client IP from the platform's headers: the first hop of `x-forwarded-for`, else
 * `x-real-ip` (Vercel and most proxies set both; self-hosted, put the app behind a proxy
 * that overwrites them). Anything that is not an IP address — a forged or garbled header —
 * gives null, never a guess: IPv4 only as four decimal parts (no "1", "127.1", hex or
 * octal forms, which ipaddr.js would otherwise read), IPv6 without a zone id.
 * IPv4-mapped IPv6 addresses count as IPv4. Canonical text (IPv6 as RFC 5952: "2001:db8::1").
 */
export function clientIp(h: Headers): string | null {
  const raw = (h.get("x-forwarded-for") ?? "").split(",")[0].trim() || (h.get("x-real-ip") ?? "").trim();
  if (!raw || raw.length > 64) return null;
  if (ipaddr.IPv4.isValidFourPartDecimal(raw)) return ipaddr.IPv4.parse(raw).toString();
  if (!raw.includes(":") || !ipaddr.IPv6.isValid(raw)) return null;
  const v6 = ipaddr.IPv6.parse(raw);
  if (v6.zoneId) return null; // a link-local zone never comes from a remote client
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address().toString() : v6.toRFC5952String();
}

/** The network of an IP: its /24 (IPv4) or /48 (IPv6), canonical text like "203.0.113.0/24" or "2001:db8::/48". */
export function ipPrefix(ip: string): string {
  const addr = ipaddr.parse(ip);
  return addr.kind() === "ipv4"
    ? `${ipaddr.IPv4.networkAddressFromCIDR(`${addr.toString()}/24`).toString()}/24`
    : `${ipaddr.IPv6.networkAddressFromCIDR(`${(addr as ipaddr.IPv6).toNormalizedString()}/48`).toRFC5952String()}/48`;
}

/** What a request tells about who sent it, hashed: {ipHash, ipPrefixHash, deviceHash} (null when absent). */
export function requestFingerprint(h: Headers) {
  const ip = clientIp(h);
  const userAgent = h.get("user-agent") ?? "";
  // user agent + client hints + accept-language: stable for one browser, no script needed
  const device = [userAgent, h.get("sec-ch-ua"), h.get("sec-ch-ua-platform"), h.get("sec-ch-ua-mobile"), h.get("accept-language")]
    .map((v) => (v ?? "").slice(0, 512))
    .join("\n");
  return {
    ip,
    ipHash: ip ? keyedHash("ip", ip) : null,
    ipPrefixHash: ip ? keyedHash("net", ipPrefix(ip)) : null,
    deviceHash: userAgent ? keyedHash("device", device) : null,
  };
}

// ── Emails and payment methods ───────────────────────────────────────────────

/** An address: a local part (≤ 64, no spaces or @) and a domain of two or more labels. */
const LABEL = "[\\p{L}\\p{N}](?:[\\p{L}\\p{N}-]*[\\p{L}\\p{N}])?";
const EMAIL = new RegExp(`^([^\\s@]{1,64})@(${LABEL}(?:\\.${LABEL})+)$`, "u");

/**
 * An email as the duplicate check compares it: trimmed, lower case, the `+tag` removed,
 * and for Gmail (gmail.com, googlemail.com → gmail.com) the dots of the local part removed.
 * Null when it is not an address (one @, no spaces, a domain of two or more labels).
 */
export function normalizeEmail(email: string | null | undefined): string | null {
  const e = (email ?? "").trim().toLowerCase();
  const m = e.length <= 320 ? EMAIL.exec(e) : null;
  if (!m) return null;
  let local = m[1].split("+")[0];
  let domain = m[2];
  if (domain === "googlemail.com") domain = "gmail.com";
  if (domain === "gmail.com") local = local.replaceAll(".", "");
  return local ? `${local}@${domain}` : null;
}

/**
 * True when the address's domain, or a domain above it, is a throwaway one (mailchecker's
 * maintained list). Only the domain is judged: an address mailchecker's strict syntax
 * rule refuses (an internationalised domain, say) is not called throwaway for that.
 */
export function isDisposableEmail(email: string): boolean {
  const list = MailChecker.blacklist();
  let domain = email.slice(email.lastIndexOf("@") + 1).trim().toLowerCase();
  for (;;) {
    if (list.has(domain)) return true;
    const dot = domain.indexOf(".");
    if (dot < 0) return false;
    domain = domain.slice(dot + 1);
  }
}

/** The Payment fields the signals read (@whop/sdk Payment). */
export interface PaymentEvidence {
  user?: { email?: string | null } | null;
  card_brand?: string | null;
  card_last4?: string | null;
  billing_address?: { postal_code?: string | null } | null;
}

/**
 * A payment's signals for run_fraud_checks (p_data.referly_signals): {email (normalised),
 * email_disposable, method_hash (brand + last4 + billing postal code, keyed), card_brand,
 * card_last4}. Fields are null when Whop did not send them (member:email:read, card
 * payments); method_hash needs all three, since brand + last4 alone is shared by one card
 * in ten thousand of a brand and would flag strangers.
 */
export function paymentSignals(p: PaymentEvidence) {
  const email = normalizeEmail(p.user?.email);
  const brand = p.card_brand && p.card_brand !== "unknown" ? p.card_brand : null;
  const last4 = p.card_last4 && /^\d{4}$/.test(p.card_last4) ? p.card_last4 : null;
  const postal = (p.billing_address?.postal_code ?? "").replace(/\s+/g, "").toUpperCase();
  return {
    email,
    email_disposable: email ? isDisposableEmail(email) : false,
    method_hash: brand && last4 && postal ? keyedHash("card", `${brand}|${last4}|${postal}`) : null,
    card_brand: brand,
    card_last4: last4,
  };
}

/** A member opened the member app: remember where (hashes only; no write within the hour). */
export async function recordMemberVisit(companyId: string, userId: string, h: Headers): Promise<void> {
  const f = requestFingerprint(h);
  if (!f.ipHash && !f.deviceHash) return;
  await rpc("record_member_visit", {
    p_company_id: companyId,
    p_user_id: userId,
    p_ip_hash: f.ipHash,
    p_ip_prefix_hash: f.ipPrefixHash,
    p_device_hash: f.deviceHash,
  }, z.unknown());
}

// ── Review ───────────────────────────────────────────────────────────────────

export const CHECK_TYPES = [
  "self_referral",
  "email_duplicate",
  "ring",
  "ip_duplicate",
  "device_duplicate",
  "velocity_limit",
  "disposable_email",
  "fast_conversion",
] as const;
export type CheckType = (typeof CHECK_TYPES)[number];

export const FRAUD_STATUSES = ["clear", "flagged", "held", "approved", "rejected"] as const;
export const FraudStatus = z.enum(FRAUD_STATUSES);

export const FraudCheck = z.object({
  check_type: z.enum(CHECK_TYPES),
  weight: z.number().int(),
  details: z.record(z.string(), z.unknown()),
});
export type FraudCheck = z.infer<typeof FraudCheck>;

export const FraudRow = z.object({
  id: z.uuid(),
  referrer_user_id: z.string(),
  referrer: z.string(),
  referee_user_id: z.string(),
  referee: z.string(),
  status: z.string(),
  fraud_status: FraudStatus,
  fraud_score: z.number().int(),
  source: z.string(),
  created_at: z.string(),
  converted_at: z.string().nullable(),
  decided_at: z.string().nullable(),
  decided_by: z.string().nullable(),
  reason: z.string().nullable(),
  referrer_trusted: z.boolean(),
  /** net cents of this referral's commissions on hold, program currency */
  held_cents: z.number().int(),
  currency: z.string().nullable(),
  checks: z.array(FraudCheck),
  /** the referrer's other referrals by review status */
  history: z.object({ held: z.number().int(), flagged: z.number().int(), rejected: z.number().int(), approved: z.number().int() }),
});
export type FraudRow = z.infer<typeof FraudRow>;

/** The queue's URL query: status (open = held and flagged), member, after (cursor). */
export const FraudQuery = z.object({
  status: z.enum(["open", "held", "flagged", "approved", "rejected"]).optional(),
  member: z.string().trim().min(1).max(64).optional(),
  after: z.string().max(200).optional(),
});
export type FraudQuery = z.infer<typeof FraudQuery>;

const Queue = Page(FraudRow).extend({ counts: z.object({ held: z.number().int(), flagged: z.number().int() }) });

/** One page (≤ 50) of the review queue, highest score first. Errors: 400 bad status or cursor. */
export function listFraudQueue(companyId: string, query: FraudQuery, limit?: number) {
  return rpc("list_fraud_queue", { p_company_id: companyId, p_filter: { ...query, limit } }, Queue);
}

const Decided = z.object({
  decided: z.array(z.object({ id: z.uuid(), fraud_status: FraudStatus, status: z.string(), commissions_moved: z.number().int() })),
  skipped: z.array(z.object({ id: z.uuid(), error: z.string() })),
});

/**
 * Approve or reject referrals under review (≤ 200), as `actorUserId` (the admin's Whop
 * user id, written to the ledger with `reason`). Referrals already decided are skipped.
 * Errors: 400 bad decision, no reason or no ids.
 */
export function decideReferrals(companyId: string, ids: string[], decision: "approve" | "reject", reason: string, actorUserId: string) {
  return rpc(
    "decide_referrals",
    { p_company_id: companyId, p_referral_ids: ids, p_decision: decision, p_reason: reason, p_actor: actorUserId },
    Decided,
  );
}

/** Put a member on the allow-list (their referrals are never held) or take them off. Errors: 404 unknown member. */
export function setMemberTrusted(companyId: string, member: string, trusted: boolean, actorUserId: string) {
  return rpc(
    "set_member_trusted",
    { p_company_id: companyId, p_member: member, p_trusted: trusted, p_actor: actorUserId },
    z.object({ user_id: z.string(), trusted: z.boolean(), trusted_at: z.string().nullable(), trusted_by: z.string().nullable() }),
  );
}

/** A member's review side: trusted or not, and their flagged / held / decided referrals (latest 50). */
export function getMemberFraud(companyId: string, userId: string) {
  return rpc(
    "get_member_fraud",
    { p_company_id: companyId, p_user_id: userId },
    z.object({ trusted: z.boolean(), trusted_at: z.string().nullable(), trusted_by: z.string().nullable(), rows: z.array(FraudRow) }),
  );
}

// ── Words ────────────────────────────────────────────────────────────────────

const day = (iso: unknown) =>
  typeof iso === "string" ? new Date(iso).toLocaleDateString("en-US", { day: "numeric", month: "short", timeZone: "UTC" }) : "earlier";
const whereSeen = (seen: unknown) => (seen === "own_click" ? "on the link that brought them in" : "opening the member app");
const BRANDS: Record<string, string> = { visa: "Visa", mastercard: "Mastercard", amex: "Amex", discover: "Discover" };

/**
 * One flagged signal in plain words for the creator, e.g. "Same card (Visa ending 4242) as
 * alex's own payment on Nov 3". `referrer` is the referrer's display name; with
 * `referrerUserId` a card match on a payment of someone above the referrer in the chain
 * (details.user_id) says so instead of blaming the referrer.
 */
export function explainCheck(c: FraudCheck, referrer: string, referrerUserId?: string): string {
  const d = c.details;
  switch (c.check_type) {
    case "self_referral": {
      const whose =
        d.user_id && referrerUserId && d.user_id !== referrerUserId
          ? `a payment by ${String(d.user_id)}, above ${referrer} in the referral chain,`
          : `${referrer}'s own payment`;
      return `Same card (${BRANDS[String(d.card_brand)] ?? String(d.card_brand ?? "card")} ending ${String(d.card_last4 ?? "????")}) as ${whose} on ${day(d.paid_at)}`;
    }
    case "ip_duplicate":
      return `Same IP address as ${referrer} used ${whereSeen(d.seen)} (first seen ${day(d.seen_at)})`;
    case "device_duplicate":
      return `Same device and browser as ${referrer} used ${whereSeen(d.seen)} (first seen ${day(d.seen_at)})`;
    case "email_duplicate":
      return d.match === "exact"
        ? `Same email address as ${referrer} (after removing dots and +tags)`
        : `Email address nearly the same as ${referrer}'s (${String(d.distance)} character${d.distance === 1 ? "" : "s"} apart)`;
    case "disposable_email":
      return `Throwaway email domain (${String(d.domain ?? "unknown")})`;
    case "velocity_limit":
      return `${referrer} converted ${String(d.last_hour)} in the last hour and ${String(d.last_day)} in the last day (limits ${String(
        d.limit_hour,
      )} and ${String(d.limit_day)})`;
    case "fast_conversion":
      return `Paid ${String(d.seconds)} second${Number(d.seconds) === 1 ? "" : "s"} after clicking the link (minimum ${String(d.minimum)})`;
    case "ring":
      return `${referrer} was referred by this buyer before (${Number(d.level) === 1 ? "directly" : `${String(d.level)} levels up`}): a referral ring`;
  }
}

/** Plain-language names and help for the settings page, one per signal. */
export const CHECK_HELP: Record<CheckType, { title: string; help: string }> = {
  self_referral: { title: "Self-referral", help: "The buyer paid with the same card (brand, last 4 digits and postal code) as the referrer." },
  email_duplicate: { title: "Same email", help: "The buyer's email matches the referrer's, or is one or two characters apart." },
  ring: { title: "Referral ring", help: "The buyer had referred the referrer before (A → B, then B → A)." },
  ip_duplicate: { title: "Same IP", help: "The buyer clicked from an IP address the referrer used. An office or family may share one." },
  device_duplicate: { title: "Same device", help: "The buyer clicked from the same browser and device the referrer used." },
  velocity_limit: { title: "Too many, too fast", help: "The referrer converted more people in an hour or a day than your limits." },
  disposable_email: { title: "Throwaway email", help: "The buyer used a disposable email service." },
  fast_conversion: { title: "Instant purchase", help: "The buyer paid within seconds of clicking the link." },
};
