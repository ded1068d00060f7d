/**
 * Clicks on /r/CODE (see docs/architecture.md, "Flows": click; SQL: record_click, set_click_checkout). The visitor
 * is a keyed hash of IP and user agent, and the click keeps keyed hashes of the IP, its /24
 * or /48 and the device for the fraud checks (lib/fraud; no raw IP stored); bots (npm isbot)
 * and repeat clicks of one visitor within an hour are stored but not counted, and reuse the
 * checkout of the visitor's counted click. Requests are rate-limited per visitor and per IP
 * network (rate-limiter-flexible, in this process's memory: on several instances, e.g.
 * Vercel, each instance keeps its own count — a bound, not an exact quota).
 */
import { isbot } from "isbot";
import { RateLimiterMemory, RateLimiterRes } from "rate-limiter-flexible";
import { z } from "zod";
import { rpc } from "../db";
import { keyedHash, requestFingerprint } from "../fraud";

export const ClickResult = z.discriminatedUnion("found", [
  z.object({ found: z.literal(false) }),
  z.object({
    found: z.literal(true),
    click_id: z.uuid(),
    counted: z.boolean(),
    company_id: z.string(),
    code: z.string(),
    plan_id: z.string().nullable(),
    landing_url: z.string().nullable(),
    /** the visitor's counted click on this code within the hour (this one when counted); null for bots */
    first_click_id: z.uuid().nullable(),
    /** the checkout that counted click opened, to reuse */
    checkout_url: z.string().nullable(),
  }),
]);
export type ClickResult = z.infer<typeof ClickResult>;

/** What /r/CODE knows about the visitor, from the request headers. */
export function visitorFromHeaders(h: Headers) {
  const fingerprint = requestFingerprint(h);
  const userAgent = h.get("user-agent") ?? "";
  const country = h.get("x-vercel-ip-country") ?? h.get("cf-ipcountry") ?? null;
  return {
    ...fingerprint,
    visitorHash: keyedHash("visitor", `${fingerprint.ip ?? "unknown"}|${userAgent}`),
    userAgent,
    referrerUrl: h.get("referer"),
    country: country && /^[A-Z]{2}$/i.test(country) ? country.toUpperCase() : null,
    isBot: userAgent === "" || isbot(userAgent),
  };
}

/** Clicks one visitor (keyed IP + user agent) may make a minute, on any codes. */
export const VISITOR_CLICKS_PER_MINUTE = 30;
/** Clicks one IP network (/24 or /48) may make a minute: an office or a carrier's NAT shares one. */
export const NETWORK_CLICKS_PER_MINUTE = 300;
const perVisitor = new RateLimiterMemory({ keyPrefix: "visitor", points: VISITOR_CLICKS_PER_MINUTE, duration: 60 });
const perNetwork = new RateLimiterMemory({ keyPrefix: "network", points: NETWORK_CLICKS_PER_MINUTE, duration: 60 });

/**
 * Count one request of this visitor against the limits. Returns null when it may go on, or
 * the seconds to wait (the /r route answers 429 then, recording nothing).
 */
export async function clickRateLimit(v: ReturnType<typeof visitorFromHeaders>): Promise<number | null> {
  try {
    await perVisitor.consume(v.visitorHash);
    if (v.ipPrefixHash) await perNetwork.consume(v.ipPrefixHash);
    return null;
  } catch (err) {
    if (err instanceof RateLimiterRes) return Math.max(1, Math.ceil(err.msBeforeNext / 1000));
    throw err;
  }
}

/** Remember the checkout a counted click opened, so the visitor's repeats reuse it. */
export function setClickCheckout(clickId: string, checkoutUrl: string): Promise<unknown> {
  return rpc("set_click_checkout", { p_click_id: clickId, p_checkout_url: checkoutUrl }, z.unknown());
}

/** Record one click on `code` by visitor `v`; {found:false} for an unknown or inactive code. */
export function recordClick(code: string, v: ReturnType<typeof visitorFromHeaders>): Promise<ClickResult> {
  return rpc(
    "record_click",
    {
      p_code: code,
      p_visitor_hash: v.visitorHash,
      p_user_agent: v.userAgent,
      p_referrer_url: v.referrerUrl,
      p_country: v.country,
      p_is_bot: v.isBot,
      p_ip_hash: v.ipHash,
      p_ip_prefix_hash: v.ipPrefixHash,
      p_device_hash: v.deviceHash,
    },
    ClickResult,
  );
}
