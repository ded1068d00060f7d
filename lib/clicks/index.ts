/**
 * Clicks on /r/CODE (DESIGN.md flow 2; SQL: record_click). The visitor is a keyed hash of
 * IP and user agent, and the click keeps keyed hashes of the IP, its /24 or /48 and the
 * device for the fraud checks (lib/fraud; no raw IP stored); bots (npm isbot) and repeat
 * clicks of one visitor within an hour are stored but not counted.
 */
import { isbot } from "isbot";
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

/** Record one click on `code`; {found:false} for an unknown or inactive code. */
export function recordClick(code: string, h: Headers): Promise<ClickResult> {
  const v = visitorFromHeaders(h);
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
