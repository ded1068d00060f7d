/**
 * Who is looking: every page and action reads the
 * viewer from `verifyUserToken` on the request headers (x-whop-user-token, ES256, aud =
 * app id) and checks access with `users.checkAccess`. Pages turn the errors into
 * 401 ("open this app inside Whop") and 403 pages.
 */
import { headers } from "next/headers";
import { cache } from "react";
import { forbidden, unauthorized } from "next/navigation";
import { whop } from "./client";

export interface Viewer {
  userId: string;
  companyId: string;
  accessLevel: "admin" | "customer";
  /** set for the member view */
  experienceId?: string;
}

/** The verified user id from the request's Whop user token, or null. */
export async function viewerUserId(h?: Headers): Promise<string | null> {
  const hs = h ?? (await headers());
  const payload = await whop().verifyUserToken(hs, { dontThrow: true });
  return payload?.userId ?? null;
}

/**
 * The member view's viewer: company from `experiences.retrieve`, any access
 * (customer or admin). Calls unauthorized() (401) without a valid token and
 * forbidden() (403) without access.
 */
export const requireExperienceViewer = cache(async (experienceId: string): Promise<Viewer> => {
  const userId = await viewerUserId();
  if (!userId) unauthorized();
  const [access, experience] = await Promise.all([
    whop().users.checkAccess(experienceId, { id: userId }),
    whop().experiences.retrieve(experienceId),
  ]);
  if (access.access_level === "no_access" || !access.has_access) forbidden();
  return { userId, companyId: experience.company.id, accessLevel: access.access_level, experienceId };
});

/**
 * The dashboard's viewer: admins of `companyId` only; 401 / 403 otherwise. Memoised per
 * request (the layout and the page both ask).
 */
export const requireCompanyAdmin = cache(async (companyId: string): Promise<Viewer> => {
  const access = await companyAdminAccess(companyId);
  if (access.status !== 200) return access.status === 401 ? unauthorized() : forbidden();
  return { userId: access.userId, companyId, accessLevel: "admin" };
});

/**
 * Whether the request's viewer is an admin of `companyId` (users.checkAccess): status 200
 * with their user id, 401 without a valid Whop user token, 403 otherwise. Pages use
 * requireCompanyAdmin; route handlers answer the status themselves.
 */
export async function companyAdminAccess(
  companyId: string,
  h?: Headers,
): Promise<{ status: 200; userId: string } | { status: 401 | 403 }> {
  const userId = await viewerUserId(h);
  if (!userId) return { status: 401 };
  const access = await whop().users.checkAccess(companyId, { id: userId });
  return access.access_level === "admin" ? { status: 200, userId } : { status: 403 };
}
