/** Display helpers shared by the views (dates in UTC unless a zone is given; statuses' colours). */

/** "Nov 22, 2026" for an ISO timestamp, in `timeZone` (default UTC). */
export const day = (iso: string, timeZone = "UTC") => new Date(iso).toLocaleDateString("en-US", { dateStyle: "medium", timeZone });

/** "Nov 22" for a YYYY-MM-DD bucket (already a local date). */
export const bucketLabel = (d: string) => new Date(`${d}T00:00:00Z`).toLocaleDateString("en-US", { month: "short", day: "numeric", timeZone: "UTC" });

/** Frosted UI badge colour of every canonical status (see docs/architecture.md, "Canonical statuses"). */
export const statusColor: Record<string, "green" | "blue" | "amber" | "gray" | "red" | "orange"> = {
  converted: "green", paid: "green", completed: "green", granted: "green", claimed: "green", active: "green",
  available: "blue", processing: "blue",
  pending: "amber", requested: "amber", on_hold: "orange",
  expired: "gray", reversed: "gray", cancelled: "gray", failed: "red", inactive: "gray",
  // fraud review
  flagged: "amber", held: "orange", approved: "green", rejected: "red", clear: "gray",
};

/** What a member sees for a commission's status: a fraud hold is "Under review", never why. */
export const memberStatus = (status: string) => (status === "on_hold" ? "Under review" : status);
