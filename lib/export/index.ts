/**
 * CSV export of the dashboard's lists (app/dashboard/[companyId]/export/[dataset]/route.ts):
 * `referrals`, `commissions`, `payouts`, `members`, filtered by the same URL query as the
 * section (status, member, level, kind, from, to, q, sort, dir) and read through the same
 * keyset list functions, one page of 50 at a time following `next`; rows are streamed
 * through csv-stringify with backpressure, so a 100 000-row export holds a page or two in
 * memory, never the file (bench/export.ts measures it). A members search (`q`) is the
 * section's search: at most 50 matches.
 *
 * Cells:
 *  - money columns are exact decimal amounts in the row's currency (centsToDecimal:
 *    1000 USD → 10.00, a clawback → -4.00), with a `currency` column beside them; the
 *    members list has no currency per row, so its amounts are in the program currency;
 *  - timestamps are ISO-8601 in UTC (2026-11-22T10:00:00.000Z), empty when unset;
 *  - booleans are `true` / `false`; counts and rates are plain numbers;
 *  - text columns (ids, usernames, codes, statuses, reasons, errors, currencies) are
 *    neutralised against CSV/formula injection (OWASP): a cell beginning with `=`, `+`,
 *    `-`, `@`, tab or carriage return gets a leading single quote (`'=HYPERLINK(…)`).
 *    Numeric columns (money, counts, levels, rates, points) are never touched, so a
 *    negative amount stays the number -4.00; they are formatted here from integers and
 *    cannot carry a formula.
 *
 * Access (admins of the company only) is `exportAccess`, for the route handler, which
 * must answer a Response with a status rather than call forbidden()/unauthorized().
 */
import { Readable, pipeline } from "node:stream";
import { stringify } from "csv-stringify";
import type { z } from "zod";
import { CommissionQuery, listCommissions, type CommissionRow } from "../commissions";
import { DomainError } from "../db";
import { PAGE_SIZE, type Page } from "../lists";
import { listMembers, MemberQuery, type MemberRow } from "../members";
import { basisPointsToPercent, centsToDecimal } from "../money";
import { PayoutQuery, listPayouts, type PayoutRow } from "../payouts";
import { getProgram } from "../programs";
import { ReferralQuery, listReferrals, type ReferralRow } from "../referrals";
import { companyAdminAccess } from "../whop/viewer";

export const DATASETS = ["referrals", "commissions", "payouts", "members"] as const;
export type Dataset = (typeof DATASETS)[number];

export const isDataset = (s: string): s is Dataset => (DATASETS as readonly string[]).includes(s);

/** How a column's cell is written: `text` is neutralised against formula injection, the rest are ours. */
type Kind = "text" | "number" | "money" | "bool" | "time";
type Cell = string | number | boolean | null | undefined;

interface Definition<Q, R> {
  /** the section's query schema (lib/<domain>) */
  schema: z.ZodObject;
  list(companyId: string, query: Q, limit: number): Promise<Page<R>>;
  columns: readonly (readonly [name: string, kind: Kind])[];
  /** the row's cells in `columns` order; `currency` is the program currency (members) */
  cells(row: R, currency: string): Cell[];
}

const define = <Q, R>(d: Definition<Q, R>) => d as Definition<unknown, unknown>;

const DEFINITIONS: Record<Dataset, Definition<unknown, unknown>> = {
  members: define<MemberQuery, MemberRow>({
    schema: MemberQuery,
    list: listMembers,
    columns: [
      ["user_id", "text"],
      ["username", "text"],
      ["code", "text"],
      ["code_active", "bool"],
      ["clicks", "number"],
      ["signups", "number"],
      ["conversions", "number"],
      ["active_referrals", "number"],
      ["revenue", "money"],
      ["earned", "money"],
      ["paid", "money"],
      ["available", "money"],
      ["points", "number"],
      ["currency", "text"],
    ],
    cells: (m, currency) => [
      m.user_id,
      m.username,
      m.code,
      m.code_active,
      m.clicks,
      m.signups,
      m.conversions,
      m.active_referrals,
      centsToDecimal(m.revenue_cents, currency),
      centsToDecimal(m.earned_cents, currency),
      centsToDecimal(m.paid_cents, currency),
      centsToDecimal(m.available_cents, currency),
      m.points,
      currency,
    ],
  }),
  referrals: define<ReferralQuery, ReferralRow>({
    schema: ReferralQuery,
    list: listReferrals,
    columns: [
      ["id", "text"],
      ["referrer", "text"],
      ["referrer_user_id", "text"],
      ["referee", "text"],
      ["referee_user_id", "text"],
      ["status", "text"],
      ["active", "bool"],
      ["source", "text"],
      ["created_at", "time"],
      ["signed_up_at", "time"],
      ["converted_at", "time"],
    ],
    cells: (r) => [
      r.id,
      r.referrer,
      r.referrer_user_id,
      r.referee,
      r.referee_user_id,
      r.status,
      r.active,
      r.source,
      r.created_at,
      r.signed_up_at,
      r.converted_at,
    ],
  }),
  commissions: define<CommissionQuery, CommissionRow>({
    schema: CommissionQuery,
    list: listCommissions,
    columns: [
      ["id", "text"],
      ["created_at", "time"],
      ["beneficiary", "text"],
      ["beneficiary_user_id", "text"],
      ["payment_id", "text"],
      ["level", "number"],
      ["kind", "text"],
      ["base_amount", "money"],
      ["rate_percent", "number"],
      ["amount", "money"],
      ["reversed", "money"],
      ["net", "money"],
      ["currency", "text"],
      ["status", "text"],
      ["available_at", "time"],
      ["paid_at", "time"],
      ["reason", "text"],
    ],
    cells: (c) => [
      c.id,
      c.created_at,
      c.beneficiary,
      c.beneficiary_user_id,
      c.payment_id,
      c.level,
      c.kind,
      centsToDecimal(c.base_amount_cents, c.currency),
      // flat-amount commissions have no rate (0 basis points): left empty, as the page shows "flat"
      c.rate_bp > 0 ? basisPointsToPercent(c.rate_bp) : null,
      centsToDecimal(c.amount_cents, c.currency),
      centsToDecimal(c.reversed_cents, c.currency),
      centsToDecimal(c.amount_cents - c.reversed_cents, c.currency),
      c.currency,
      c.status,
      c.available_at,
      c.paid_at,
      c.reason,
    ],
  }),
  payouts: define<PayoutQuery, PayoutRow>({
    schema: PayoutQuery,
    list: listPayouts,
    columns: [
      ["id", "text"],
      ["requested_at", "time"],
      ["member", "text"],
      ["user_id", "text"],
      ["amount", "money"],
      ["currency", "text"],
      ["status", "text"],
      ["whop_transfer_id", "text"],
      ["completed_at", "time"],
      ["error", "text"],
    ],
    cells: (p) => [
      p.id,
      p.requested_at,
      p.member,
      p.user_id,
      centsToDecimal(p.amount_cents, p.currency),
      p.currency,
      p.status,
      p.whop_transfer_id,
      p.completed_at,
      p.error,
    ],
  }),
};

/** The header row of a dataset's CSV. */
export const columnsOf = (dataset: Dataset): string[] => DEFINITIONS[dataset].columns.map(([name]) => name);

// ── Cells ───────────────────────────────────────────────────────────────────

/** OWASP CSV injection: the characters a spreadsheet may start a formula with. */
const FORMULA_START = /^[=+\-@\t\r]/;

/** A text cell made safe to open in a spreadsheet: a leading `'` when it could start a formula. */
export function neutralise(text: string): string {
  return FORMULA_START.test(text) ? `'${text}` : text;
}

/** A Postgres timestamp (any offset) as ISO-8601 UTC with milliseconds. */
export function isoUtc(ts: string): string {
  const d = new Date(ts);
  if (Number.isNaN(d.getTime())) throw new Error(`not a timestamp: ${ts}`);
  return d.toISOString();
}

function cell(kind: Kind, v: Cell): string {
  if (v === null || v === undefined || v === "") return "";
  switch (kind) {
    case "text":
      return neutralise(String(v));
    case "time":
      return isoUtc(String(v));
    case "bool":
      return v ? "true" : "false";
    case "number":
    case "money":
      // formatted from integers by this module: digits, an optional minus and point
      return String(v);
  }
}

// ── Query ───────────────────────────────────────────────────────────────────

/**
 * The export's filters from the URL query: the section's keys (its schema's, minus the
 * cursor `after`, since an export always starts at the first row); other keys are
 * ignored and empty values dropped, as the section does. Unlike the section, which falls
 * back to defaults, a malformed value is an error (400) — an export silently widened to
 * every row would be worse than none.
 */
export function parseExportQuery(
  dataset: Dataset,
  params: URLSearchParams,
): { ok: true; query: Record<string, unknown> } | { ok: false; message: string } {
  const { schema } = DEFINITIONS[dataset];
  const raw: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    if (key === "after") continue;
    const values = params.getAll(key).map((v) => v.trim()).filter((v) => v !== "");
    if (values.length > 1) return { ok: false, message: `${key}: give one value, not ${values.length}` };
    if (values.length === 1) raw[key] = values[0];
  }
  const parsed = schema.safeParse(raw);
  if (!parsed.success) {
    return {
      ok: false,
      message: parsed.error.issues.map((i) => `${i.path.join(".") || "query"}: ${i.message}`).join("; "),
    };
  }
  const q = parsed.data as Record<string, unknown>;
  if (typeof q.from === "string" && typeof q.to === "string" && q.from > q.to) {
    return { ok: false, message: "from: must be on or before to" };
  }
  return { ok: true, query: q };
}

// ── Stream ──────────────────────────────────────────────────────────────────

export type ExportResult =
  | { ok: true; dataset: Dataset; filename: string; stream: ReadableStream<Uint8Array> }
  | { ok: false; status: 400 | 404 | 409; message: string };

/** referly-<dataset>-<YYYY-MM-DD>.csv, the UTC date of `now`. */
export const exportFilename = (dataset: Dataset, now = new Date()) =>
  `referly-${dataset}-${now.toISOString().slice(0, 10)}.csv`;

/**
 * Export `dataset` of `companyId` filtered by `params` (the section's URL query) as a
 * pull-based stream of CSV bytes: a header row, then every matching row in the section's
 * order. Unknown dataset → 404; a bad filter → 400 with the reason. The first page is
 * read before answering, so a refusal of the database (a DomainError) is a status, not a
 * broken download; a later failure errors the stream (the download ends short).
 */
export async function exportCsv(companyId: string, dataset: string, params: URLSearchParams, now = new Date()): Promise<ExportResult> {
  if (!isDataset(dataset)) return { ok: false, status: 404, message: `Unknown export "${dataset}"; one of ${DATASETS.join(", ")}` };
  const parsed = parseExportQuery(dataset, params);
  if (!parsed.ok) return { ok: false, status: 400, message: parsed.message };
  const def = DEFINITIONS[dataset];
  let first: Page<unknown>;
  let currency = "USD";
  try {
    if (dataset === "members") currency = (await getProgram(companyId)).currency;
    first = await def.list(companyId, parsed.query, PAGE_SIZE);
  } catch (err) {
    if (err instanceof DomainError && (err.status === 400 || err.status === 404 || err.status === 409)) {
      return { ok: false, status: err.status, message: err.message };
    }
    throw err;
  }
  return { ok: true, dataset, filename: exportFilename(dataset, now), stream: csvStream(def, companyId, parsed.query, currency, first) };
}

/**
 * Every row of the list, page after page. The next page is requested when this one
 * starts being written (so the database works while the CSV is made): at most two pages
 * are held, and no page after that is asked for until the consumer wants more.
 */
async function* records(
  def: Definition<unknown, unknown>,
  companyId: string,
  query: Record<string, unknown>,
  currency: string,
  first: Page<unknown>,
): AsyncGenerator<string[]> {
  let page = first;
  for (;;) {
    const following = page.next ? def.list(companyId, { ...query, after: page.next }, PAGE_SIZE) : null;
    // a download cancelled mid-page never awaits it: not an unhandled rejection
    following?.catch(() => {});
    for (const row of page.rows) {
      const values = def.cells(row, currency);
      yield def.columns.map(([, kind], i) => cell(kind, values[i]));
    }
    if (!following) return;
    page = await following;
  }
}

/**
 * records → csv-stringify (a Node Transform) → a pull-based web ReadableStream
 * (highWaterMark 0: nothing is read before the response asks). Backpressure end to end:
 * the stringifier buffers at most its highWaterMark (16 kB) and Readable.from at most 50
 * records before they stop pulling, and records fetch the next page only then.
 * Cancelling (the client went away) destroys the pipeline, which ends the generator.
 */
function csvStream(
  def: Definition<unknown, unknown>,
  companyId: string,
  query: Record<string, unknown>,
  currency: string,
  first: Page<unknown>,
): ReadableStream<Uint8Array> {
  const source = Readable.from(records(def, companyId, query, currency, first), { objectMode: true, highWaterMark: PAGE_SIZE });
  const csv = stringify({ header: true, columns: def.columns.map(([name]) => name) });
  // pipeline (unlike pipe) destroys the stringifier with the source's error, so the reader sees it
  pipeline(source, csv, () => {});
  const chunks = csv[Symbol.asyncIterator]() as AsyncIterator<Buffer | string>;
  const utf8 = new TextEncoder();
  return new ReadableStream<Uint8Array>(
    {
      // each chunk is what the stringifier has buffered (a few kB of records)
      async pull(controller) {
        try {
          const { value, done } = await chunks.next();
          if (done) controller.close();
          else controller.enqueue(typeof value === "string" ? utf8.encode(value) : new Uint8Array(value.buffer, value.byteOffset, value.byteLength));
        } catch (err) {
          console.error(`export of ${companyId} failed mid-stream:`, err);
          controller.error(err);
        }
      },
      async cancel() {
        await chunks.return?.();
      },
    },
    { highWaterMark: 0 },
  );
}

// ── Access ──────────────────────────────────────────────────────────────────

/**
 * Admins of `companyId` only, for a route handler (which answers a status instead of
 * calling unauthorized()/forbidden() like requireCompanyAdmin): 401 without a valid Whop
 * user token, 403 unless Whop says the user is an admin of this company.
 */
export async function exportAccess(
  companyId: string,
  headers: Headers,
): Promise<{ ok: true; userId: string } | { ok: false; status: 401 | 403; message: string }> {
  const access = await companyAdminAccess(companyId, headers);
  if (access.status !== 200) {
    return access.status === 401
      ? { ok: false, status: 401, message: "Open this app inside Whop to export." }
      : { ok: false, status: 403, message: "Only the company's admins can export." };
  }
  return { ok: true, userId: access.userId };
}
