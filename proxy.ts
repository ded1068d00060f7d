/**
 * Runs before the routes with a dynamic segment:
 *  - a path with a malformed percent-escape (/r/%zz) gets a plain 404 here, since Next's
 *    router would fail decoding it with a 500;
 *  - demo mode only (see docs/architecture.md, "Demo mode"): like Whop's dev proxy, add an
 *    x-whop-user-token for the chosen demo identity, signed with the local demo key, so
 *    pages and actions run exactly the production verifyUserToken path. With real
 *    credentials (WHOP_API_KEY set) this does nothing.
 */
import { NextResponse, type NextRequest } from "next/server";
import { env } from "@/lib/env";
import { DEMO_COOKIE, DEMO_USERS, signUserToken } from "@/lib/demo";

export async function proxy(req: NextRequest) {
  try {
    decodeURIComponent(req.nextUrl.pathname);
  } catch {
    return new NextResponse("Not found", { status: 404, headers: { "content-type": "text/plain; charset=utf-8" } });
  }
  if (!req.nextUrl.pathname.startsWith("/experiences/") && !req.nextUrl.pathname.startsWith("/dashboard/")) return NextResponse.next();
  const e = env();
  const userId = req.cookies.get(DEMO_COOKIE)?.value;
  if (!e.demo || !e.DEMO_USER_TOKEN_PRIVATE_KEY || !userId || !DEMO_USERS.some((u) => u.id === userId)) {
    return NextResponse.next();
  }
  const headers = new Headers(req.headers);
  headers.set("x-whop-user-token", await signUserToken(e.DEMO_USER_TOKEN_PRIVATE_KEY, userId, e.appId));
  return NextResponse.next({ request: { headers } });
}

export const config = { matcher: ["/experiences/:path*", "/dashboard/:path*", "/r/:path*", "/api/:path*"] };
