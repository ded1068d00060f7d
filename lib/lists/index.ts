/**
 * Keyset-paginated lists (the dashboard's sections, CSV export). Every list SQL function
 * (list_members, list_referrals, list_commissions, list_payouts) takes a jsonb filter with
 * `sort`, `dir` (asc | desc), `after` (the cursor "<sort value>|<id>" the previous page
 * returned) and `limit` (≤ 50), and answers `{rows, next}`; `next` is null on the last
 * page. Filters, sort and page live in the URL query so a view can be shared.
 */
import { z } from "zod";

/** At most this many rows a page (the SQL functions clamp to it too). */
export const PAGE_SIZE = 50;

/** The paging part of a list's query: sort column, direction and cursor. */
export const pageParams = <S extends readonly [string, ...string[]]>(sorts: S) =>
  z.object({
    sort: z.enum(sorts).optional(),
    dir: z.enum(["asc", "desc"]).optional(),
    after: z.string().max(200).optional(),
  });

/** A page of rows and the cursor of the next one. */
export const Page = <T extends z.ZodType>(row: T) => z.object({ rows: z.array(row), next: z.string().nullable() });
export type Page<T> = { rows: T[]; next: string | null };

/**
 * The URL query of a page (Next's searchParams) as plain strings, keeping only `keys`
 * and dropping empty values.
 */
export function queryOf(sp: Record<string, string | string[] | undefined>, keys: readonly string[]): Record<string, string> {
  return Object.fromEntries(
    keys.flatMap((k) => {
      const v = sp[k];
      return typeof v === "string" && v.trim() !== "" ? [[k, v.trim()]] : [];
    }),
  );
}

/**
 * Parse a list's query with its schema. Unknown or malformed values are dropped (the view
 * falls back to its default) and reported in `invalid` so the page can say so.
 */
export function parseQuery<T extends z.ZodObject>(schema: T, query: Record<string, string>): { value: z.infer<T>; invalid: string[] } {
  const parsed = schema.safeParse(query);
  if (parsed.success) return { value: parsed.data, invalid: [] };
  const bad = new Set(parsed.error.issues.map((i) => String(i.path[0])));
  const rest = Object.fromEntries(Object.entries(query).filter(([k]) => !bad.has(k)));
  const again = schema.safeParse(rest);
  return { value: again.success ? again.data : ({} as z.infer<T>), invalid: [...bad] };
}
