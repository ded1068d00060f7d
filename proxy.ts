/**
 * Demo mode only (DESIGN.md "Demo mode"): like Whop's dev proxy, add an
 * x-whop-user-token for the chosen demo identity, signed with the local demo key, so
 * pages and actions run exactly the production verifyUserToken path. With real
 * credentials (WHOP_API_KEY set) this does nothing.
 */
import { NextResponse, type NextRequest } from "next/server";
import { env } from "@/lib/env";
import { DEMO_COOKIE, DEMO_USERS, signUserToken } from "@/lib/whop/demo";

export async function proxy(req: NextRequest) {
  const e = env();
  const userId = req.cookies.get(DEMO_COOKIE)?.value;
  if (!e.demo || !e.DEMO_USER_TOKEN_PRIVATE_KEY || !userId || !DEMO_USERS.some((u) => u.id === userId)) {
    return NextResponse.next();
  }
  const headers = new Headers(req.headers);
  headers.set("x-whop-user-token", await signUserToken(e.DEMO_USER_TOKEN_PRIVATE_KEY, userId, e.appId));
  return NextResponse.next({ request: { headers } });
}

export const config = { matcher: ["/experiences/:path*", "/dashboard/:path*"] };
