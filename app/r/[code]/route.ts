import { NextResponse, type NextRequest } from "next/server";
import { recordClick } from "@/lib/clicks";
import { companyStoreUrl, createReferralCheckout } from "@/lib/whop/gateway";

/** Attribution cookie lifetime: the default 90-day attribution window. */
const COOKIE_MAX_AGE = 90 * 24 * 3600;

/**
 * The shared link (DESIGN.md flow 2): record the click, set a first-party cookie and
 * redirect to a Whop checkout for the program's plan carrying {referral_code, click_id},
 * or to the program's landing URL, or — before any setup — to the company's Whop store
 * page (its `route` from the Whop API). The target only ever comes from Whop or the
 * creator's settings, never from the request: no open redirect. 503 only when none of
 * them can be reached.
 */
export async function GET(req: NextRequest, { params }: { params: Promise<{ code: string }> }) {
  const { code } = await params;
  if (!/^[A-Za-z0-9_-]{3,32}$/.test(code)) return page(404, "This referral link doesn't exist", "Check the link you were sent.");
  const click = await recordClick(code, req.headers);
  if (!click.found) return page(404, "This referral link doesn't exist", "It may have been changed or switched off. Check with whoever sent it.");

  let target: string | null = null;
  if (click.plan_id) {
    try {
      target = await createReferralCheckout(click.plan_id, click.code, click.click_id);
    } catch (err) {
      console.error("checkout creation failed", err);
    }
  }
  if (!target && click.landing_url) {
    const url = new URL(click.landing_url);
    url.searchParams.set("ref", click.code);
    target = url.toString();
  }
  if (!target) {
    try {
      target = await companyStoreUrl(click.company_id);
    } catch (err) {
      console.error("store page lookup failed", err);
    }
  }
  if (!target) return page(503, "Signups aren't open yet", "This community hasn't finished setting up its referral program. Try again later.");

  const res = NextResponse.redirect(target, 302);
  res.cookies.set("referly_ref", `${click.code}.${click.click_id}`, {
    maxAge: COOKIE_MAX_AGE,
    httpOnly: true,
    sameSite: "lax",
    path: "/",
  });
  return res;
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
