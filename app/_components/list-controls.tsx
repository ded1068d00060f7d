import { Button, Text } from "@whop/react/components";
import Link from "next/link";

/** A link to the same list with `patch` applied to its query (null removes a key). */
export function hrefWith(path: string, query: Record<string, string>, patch: Record<string, string | null>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...query, ...patch })) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * A sortable column title: a link that sorts the list by `sort` (descending first, then
 * toggles), back on the first page. Shows ↓ / ↑ on the current sort.
 */
export function SortLink({
  path,
  query,
  sort,
  title,
  defaultSort,
}: {
  path: string;
  query: Record<string, string>;
  sort: string;
  title: string;
  defaultSort: string;
}) {
  const current = query.sort ?? defaultSort;
  const dir = query.dir ?? "desc";
  const active = current === sort;
  const next = active && dir === "desc" ? "asc" : "desc";
  return (
    <Link className="sort-link" href={hrefWith(path, query, { sort, dir: next, after: null })} aria-sort={active ? (dir === "desc" ? "descending" : "ascending") : undefined}>
      {title}
      {active ? (dir === "desc" ? " ↓" : " ↑") : ""}
    </Link>
  );
}

/** "First page" / "Next page" links of a keyset-paginated list. */
export function Pager({ path, query, next, shown }: { path: string; query: Record<string, string>; next: string | null; shown: number }) {
  const paged = Boolean(query.after);
  if (!paged && !next) return null;
  return (
    <nav className="row pager" aria-label="Pages">
      {paged && (
        <Button asChild variant="soft" size="1">
          <Link href={hrefWith(path, query, { after: null })}>← First page</Link>
        </Button>
      )}
      <Text size="2" className="muted">
        {shown} shown
      </Text>
      {next && (
        <Button asChild variant="soft" size="1">
          <Link href={hrefWith(path, query, { after: next })}>Next page →</Link>
        </Button>
      )}
    </nav>
  );
}

/** Says which query values were not understood (they were ignored). */
export function InvalidQuery({ invalid }: { invalid: string[] }) {
  if (invalid.length === 0) return null;
  return (
    <span className="field-error" role="alert">
      Ignored filters that were not understood: {invalid.join(", ")}.
    </span>
  );
}
