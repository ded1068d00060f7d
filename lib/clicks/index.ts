/**
 * Clicks on /r/CODE (DESIGN.md flow 2; SQL: record_click). The visitor is a SHA-256 of
 * IP and user agent (no raw IP stored); bots (npm isbot) and repeat clicks of one visitor
 * within an hour are stored but not counted.
 */
import { createHash } from "node:crypto";
import { isbot } from "isbot";
import { z } from "zod";
import { rpc } from "../db";

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
  const ip = (h.get("x-forwarded-for") ?? "").split(",")[0].trim() || h.get("x-real-ip") || "unknown";
  const userAgent = h.get("user-agent") ?? "";
  const country = h.get("x-vercel-ip-country") ?? h.get("cf-ipcountry") ?? null;
  return {
    visitorHash: createHash("sha256").update(`${ip}|${userAgent}`).digest("hex"),
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
    },
    ClickResult,
  );
}
