import { NextResponse, type NextRequest } from "next/server";
import { clickRateLimit, recordClick, setClickCheckout, visitorFromHeaders } from "@/lib/clicks";
import { companyStoreUrl, createReferralCheckout } from "@/lib/whop/gateway";

/** Attribution cookie lifetime: the default 90-day attribution window. */
const COOKIE_MAX_AGE = 90 * 24 * 3600;

/**
 * The shared link (see docs/architecture.md, "Flows": click): record the click, set a first-party cookie and
 * redirect to a Whop checkout for the program's plan carrying {referral_code, click_id},
 * or to the program's landing URL, or — before any setup — to the company's Whop store
 * page (its `route` from the Whop API). The target only ever comes from Whop or the
 * creator's settings, never from the request: no open redirect.
 * A checkout is created for a counted click only, and a repeat click of the same visitor
 * within the hour reuses it; bots never get one (a plain page when the program has no landing
 * URL and the store page can't be found). 429 (a friendly page, nothing recorded)
 * past the per-visitor or per-network rate; 404 for an unknown or inactive code; 503 only
 * when no target can be reached.
 */
export async function GET(req: NextRequest, { params }: { params: Promise<{ code: string }> }) {
  const { code } = await params;
  if (!/^[A-Za-z0-9_-]{3,32}$/.test(code)) return page(404, "This referral link doesn't exist", "Check the link you were sent.");
  const visitor = visitorFromHeaders(req.headers);
  const wait = await clickRateLimit(visitor);
  if (wait !== null) {
    const res = page(429, "Slow down a little", "That link was opened many times in a row. Try again in a minute.");
    res.headers.set("retry-after", String(wait));
    return res;
  }
  const click = await recordClick(code, visitor);
  if (!click.found) return page(404, "This referral link doesn't exist", "It may have been changed or switched off. Check with whoever sent it.");

  // the visitor's counted click of the hour: the one their checkout and cookie carry
  const clickId = click.first_click_id ?? click.click_id;
  let target: string | null = click.checkout_url;
  if (!target && click.plan_id && click.first_click_id) {
    try {
      target = await createReferralCheckout(click.plan_id, click.code, click.first_click_id);
      await setClickCheckout(click.first_click_id, target);
    } catch (err) {
      console.error("checkout creation failed", err);
      target = null;
    }
  }
  if (!target && click.landing_url) target = landingUrl(click.landing_url, click.code);
  if (!target) {
    try {
      target = await companyStoreUrl(click.company_id);
    } catch (err) {
      console.error("store page lookup failed", err);
    }
  }
  // a link preview or crawler gets no checkout: a plain page when there is nowhere else to send it
  if (!target && !click.first_click_id) return page(200, "A referral link to a Whop community", "Open it in your browser to join.");
  if (!target) return page(503, "Signups aren't open yet", "This community hasn't finished setting up its referral program. Try again later.");

  const res = NextResponse.redirect(target, 302);
  res.cookies.set("referly_ref", `${click.code}.${clickId}`, {
    maxAge: COOKIE_MAX_AGE,
    httpOnly: true,
    sameSite: "lax",
    path: "/",
  });
  return res;
}

/** The creator's landing URL with ?ref=CODE; null when it is not an https URL (saved before that was checked). */
function landingUrl(saved: string, code: string): string | null {
  try {
    const url = new URL(saved);
    if (url.protocol !== "https:") return null;
    url.searchParams.set("ref", code);
    return url.toString();
  } catch {
    return null;
  }
}

function page(status: number, title: string, text: string) {
  const esc = (s: string) => s.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return new NextResponse(
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>${esc(title)}</title></head>` +
      `<body style="font-family:system-ui,sans-serif;max-width:520px;margin:80px auto;padding:0 16px;text-align:center">` +
      `<h1>${esc(title)}</h1><p style="color:#555">${esc(text)}</p></body></html>`,
    { status, headers: { "content-type": "text/html; charset=utf-8" } },
  );
}
