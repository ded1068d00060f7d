/**
 * CSV export GET /dashboard/[companyId]/export/<dataset> against the built app: identity
 * from x-whop-user-token, access from the Whop stand-in, rows from Postgres set up through
 * the SQL functions and signed webhooks. The CSV is read with a small RFC 4180 parser
 * written here, independently of the app's csv-stringify.
 */
import { describe, expect, inject, it } from "vitest";
import {
  apiCodeFor,
  apiDb as db,
  apiOne as one,
  apiRows as rows,
  apiSettings as settings,
  deliver,
  ids,
  paymentEvent,
  uid,
  userToken,
  whopCompany,
  type Ids,
} from "../helpers";

// ── HTTP and CSV ─────────────────────────────────────────────────────────────

async function download(company: string, dataset: string, query = "", token?: string) {
  const headers: Record<string, string> = {};
  if (token) headers["x-whop-user-token"] = token;
  const res = await fetch(`${inject("apiUrl")}/dashboard/${company}/export/${dataset}${query ? `?${query}` : ""}`, {
    headers,
    redirect: "manual",
  });
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** RFC 4180: fields separated by commas, records by CRLF or LF, quoted fields with "" for a quote. */
function parseCsv(text: string): string[][] {
  const out: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"' && field === "") quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\n" || (ch === "\r" && text[i + 1] === "\n")) {
      if (ch === "\r") i++;
      row.push(field);
      out.push(row);
      row = [];
      field = "";
    } else field += ch;
  }
  expect(quoted, "unterminated quoted field").toBe(false);
  if (field !== "" || row.length > 0) {
    row.push(field);
    out.push(row);
  }
  return out;
}

/** The admin's export of `dataset`, asserted 200 text/csv: its header and rows as objects. */
async function exported(c: Ids, dataset: string, query = "", company = c.company) {
  const r = await download(company, dataset, query, await userToken(c.other));
  expect(r.status, r.text).toBe(200);
  expect(r.headers.get("content-type")).toBe("text/csv; charset=utf-8");
  const [header, ...records] = parseCsv(r.text);
  for (const rec of records) expect(rec, rec.join(",")).toHaveLength(header.length);
  return { header, rows: records.map((rec) => Object.fromEntries(header.map((h, i) => [h, rec[i]]))), text: r.text };
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** A timestamp cell equals the database's value, as ISO-8601 UTC (milliseconds). */
const expectTime = (cell: string, db: Date | string | null) => {
  if (db === null) return expect(cell).toBe("");
  expect(cell).toMatch(ISO_UTC);
  expect(cell).toBe(new Date(db).toISOString());
};

// ── Setup ───────────────────────────────────────────────────────────────────

const EVIL = '=HYPERLINK("http://evil")';

/**
 * A company whose referrer is named `=HYPERLINK("http://evil")` and whose buyer "@bob"
 * pays $50.00 through the referral link (20% → a 10.00 commission, no hold); the
 * referrer is paid out 10.00 (request → start → complete, transfer tr_…), then a $20.00
 * refund claws back 4.00. c.other is the admin, c.referrer a customer.
 */
async function story() {
  const c = ids();
  await whopCompany(c.company, c.experience, { [c.other]: "admin", [c.referrer]: "customer" });
  const code = await apiCodeFor(c.company, c.referrer, EVIL);
  await settings(c.company, { hold_days: 0, ledger_account_id: "ldgr_export" });
  const event = paymentEvent(c, {
    total: 50,
    metadata: { referral_code: code },
    user: { id: c.referee, username: "@bob", name: "Bob" },
  });
  const d = await deliver(event);
  expect(d.json).toMatchObject({ outcome: "commission_created" });
  const paymentId = event.data.id;

  const { id: payoutId } = await one<{ id: string }>(`select (public.request_payout($1, $2))->>'id' as id`, [
    c.company,
    c.referrer,
  ]);
  await db().query(`select public.start_payout($1, $2::uuid)`, [c.company, payoutId]);
  const transferId = uid("tr_");
  await db().query(`select public.complete_payout($1, $2::uuid, $3)`, [c.company, payoutId, transferId]);

  const refundId = uid("rfnd_");
  const at = new Date().toISOString();
  const refund = await one(`select public.process_webhook_event($1, 'refund.updated', $2, $3::jsonb) as r`, [
    uid("evt_"),
    c.company,
    JSON.stringify({
      id: refundId,
      amount: 20,
      status: "succeeded",
      currency: "usd",
      created_at: at,
      payment: { id: paymentId, currency: "usd", created_at: at },
    }),
  ]);
  expect(refund.r).toMatchObject({ outcome: "refund_reversed" });
  return { c, code, paymentId, payoutId, transferId, refundId };
}

/** `n` buyers pay through the referrer's link (SQL process_webhook_event), $10 + i each. */
async function buyers(c: Ids, code: string, n: number) {
  for (let i = 1; i <= n; i++) {
    await db().query(`select public.process_webhook_event($1, 'payment.succeeded', $2, $3::jsonb)`, [
      uid("evt_"),
      c.company,
      JSON.stringify({
        id: uid("pay_"),
        status: "paid",
        total: 10 + i,
        subtotal: 10 + i,
        tax_amount: 0,
        currency: "usd",
        user: { id: `user_b${i}${uid()}`, username: `buyer${i}`, name: null },
        metadata: { referral_code: code },
      }),
    ]);
  }
}

// ── Datasets ────────────────────────────────────────────────────────────────

describe("export: each dataset's header and rows", () => {
  it("commissions: the commission and its clawback, decimal amounts (10.00, -4.00), currency, ISO UTC times", async () => {
    const { c, paymentId, refundId } = await story();
    const { header, rows: got } = await exported(c, "commissions");
    expect(header).toEqual([
      "id", "created_at", "beneficiary", "beneficiary_user_id", "payment_id", "level", "kind", "base_amount",
      "rate_percent", "amount", "reversed", "net", "currency", "status", "available_at", "paid_at", "reason",
    ]);
    const db = await rows(`select * from public.commissions where company_id = $1`, [c.company]);
    expect(got.map((r) => r.id).sort()).toEqual(db.map((r) => r.id).sort());

    const commission = got.find((r) => r.kind === "commission")!;
    const clawback = got.find((r) => r.kind === "clawback")!;
    expect(commission).toMatchObject({
      beneficiary: `'${EVIL}`, // neutralised
      beneficiary_user_id: c.referrer,
      payment_id: paymentId,
      level: "1",
      base_amount: "50.00",
      rate_percent: "20",
      amount: "10.00",
      reversed: "0.00",
      net: "10.00",
      currency: "USD",
      status: "paid",
      reason: "",
    });
    // a negative amount is a number, never neutralised
    expect(clawback).toMatchObject({ amount: "-4.00", net: "-4.00", reversed: "0.00", base_amount: "0.00", currency: "USD" });
    expect(clawback.status).toBe("available");
    expect(clawback.reason).toContain(refundId);
    for (const r of got) {
      const row = db.find((x) => x.id === r.id)!;
      expectTime(r.created_at, row.created_at);
      expectTime(r.available_at, row.available_at);
      expectTime(r.paid_at, row.paid_at);
    }
    expect(commission.paid_at).not.toBe("");
  });

  it("payouts: the completed payout with its amount, currency and transfer", async () => {
    const { c, payoutId, transferId } = await story();
    const { header, rows: got } = await exported(c, "payouts");
    expect(header).toEqual([
      "id", "requested_at", "member", "user_id", "amount", "currency", "status", "whop_transfer_id", "completed_at", "error",
    ]);
    expect(got).toHaveLength(1);
    const p = await one(`select * from public.payouts where id = $1`, [payoutId]);
    expect(got[0]).toMatchObject({
      id: payoutId,
      member: `'${EVIL}`,
      user_id: c.referrer,
      amount: "10.00",
      currency: "USD",
      status: "completed",
      whop_transfer_id: transferId,
      error: "",
    });
    expectTime(got[0].requested_at, p.requested_at);
    expectTime(got[0].completed_at, p.completed_at);
  });

  it("referrals: referrer and referee usernames from the internet are neutralised", async () => {
    const { c } = await story();
    const { header, rows: got } = await exported(c, "referrals");
    expect(header).toEqual([
      "id", "referrer", "referrer_user_id", "referee", "referee_user_id", "status", "active", "source", "created_at",
      "signed_up_at", "converted_at",
    ]);
    expect(got).toHaveLength(1);
    const r = await one(`select * from public.referrals where company_id = $1`, [c.company]);
    expect(got[0]).toMatchObject({
      id: r.id,
      referrer: `'${EVIL}`,
      referrer_user_id: c.referrer,
      referee: "'@bob",
      referee_user_id: c.referee,
      status: "converted",
      active: "true",
      source: "link",
    });
    expectTime(got[0].created_at, r.created_at);
    expectTime(got[0].signed_up_at, r.signed_up_at);
    expectTime(got[0].converted_at, r.converted_at);
  });

  it("members: counters, balances in the program currency, usernames neutralised (= @ tab)", async () => {
    const { c, code } = await story();
    const tabbed = `user_tab${uid()}`;
    await apiCodeFor(c.company, tabbed, "\t+SUM(A1)");
    const { header, rows: got } = await exported(c, "members");
    expect(header).toEqual([
      "user_id", "username", "code", "code_active", "clicks", "signups", "conversions", "active_referrals", "revenue",
      "earned", "paid", "available", "points", "currency",
    ]);
    expect(got.map((m) => m.user_id).sort()).toEqual([c.referrer, c.referee, tabbed].sort());
    const ref = got.find((m) => m.user_id === c.referrer)!;
    expect(ref).toMatchObject({
      username: `'${EVIL}`,
      code,
      code_active: "true",
      conversions: "1",
      revenue: "50.00",
      earned: "6.00", // 10.00 paid, less the 4.00 clawback
      paid: "10.00",
      available: "-4.00",
      currency: "USD",
    });
    expect(Number.isInteger(Number(ref.points))).toBe(true);
    expect(got.find((m) => m.user_id === c.referee)!.username).toBe("'@bob");
    expect(got.find((m) => m.user_id === tabbed)!.username).toBe("'\t+SUM(A1)");
  });

  it("an empty list is the header row alone", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.other]: "admin" });
    for (const dataset of ["referrals", "commissions", "payouts", "members"]) {
      const { rows: got, text } = await exported(c, dataset);
      expect(got, dataset).toHaveLength(0);
      expect(text.split("\n").filter(Boolean), dataset).toHaveLength(1);
    }
  });
});

describe("export: the section's filters", () => {
  it("status, kind, member and dates narrow the commissions; sort=amount&dir=asc orders them", async () => {
    const { c } = await story();
    const paid = await exported(c, "commissions", "status=paid");
    expect(paid.rows.map((r) => [r.kind, r.status])).toEqual([["commission", "paid"]]);
    expect((await exported(c, "commissions", "kind=clawback")).rows.map((r) => r.amount)).toEqual(["-4.00"]);
    expect((await exported(c, "commissions", "sort=amount&dir=asc")).rows.map((r) => r.amount)).toEqual(["-4.00", "10.00"]);
    expect((await exported(c, "commissions", "sort=amount&dir=desc")).rows.map((r) => r.amount)).toEqual(["10.00", "-4.00"]);
    expect((await exported(c, "commissions", `member=${c.referrer}`)).rows).toHaveLength(2);
    expect((await exported(c, "commissions", "member=nobody_here")).rows).toHaveLength(0);
    expect((await exported(c, "commissions", "from=2000-01-01&to=2000-12-31")).rows).toHaveLength(0);
    expect((await exported(c, "commissions", `from=2000-01-01&to=2999-12-31`)).rows).toHaveLength(2);
    // the form sends empty values for "any": ignored, as the section does; a cursor is ignored too
    expect((await exported(c, "commissions", `status=&level=&member=&from=&after=x|y`)).rows).toHaveLength(2);
  });

  it("status filters payouts and referrals; q filters members", async () => {
    const { c } = await story();
    expect((await exported(c, "payouts", "status=completed")).rows).toHaveLength(1);
    expect((await exported(c, "payouts", "status=failed")).rows).toHaveLength(0);
    expect((await exported(c, "referrals", "status=converted")).rows).toHaveLength(1);
    expect((await exported(c, "referrals", "status=pending")).rows).toHaveLength(0);
    expect((await exported(c, "members", "q=%40bo")).rows.map((m) => m.user_id)).toEqual([c.referee]);
  });

  it("a bad filter → 400 with the reason, not an unfiltered file", async () => {
    const { c } = await story();
    const token = await userToken(c.other);
    for (const [dataset, query, word] of [
      ["commissions", "status=bogus", "status"],
      ["commissions", "level=9", "level"],
      ["commissions", "from=2026-13-45", "from"],
      ["commissions", "from=2026-02-01&to=2026-01-01", "from"],
      ["commissions", "sort=username", "sort"],
      ["commissions", "status=paid&status=pending", "status"],
      ["payouts", "dir=sideways", "dir"],
      ["referrals", "status=PAID", "status"],
      ["members", "sort=points", "sort"],
    ]) {
      const r = await download(c.company, dataset, query, token);
      expect(r.status, `${dataset}?${query}`).toBe(400);
      expect(r.headers.get("content-type")).toMatch(/^text\/plain/);
      expect(r.text).toContain(word);
      expect(r.text).not.toContain(c.referrer);
    }
  });
});

describe("export: many rows, paged through the list 50 at a time", () => {
  it("130 commissions, referrals and members come out once each, in the section's order", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.other]: "admin" });
    const code = await apiCodeFor(c.company, c.referrer, "bulk");
    await buyers(c, code, 130);

    const com = await exported(c, "commissions");
    const dbCom = await rows(`select id from public.commissions where company_id = $1 order by created_at desc, id desc`, [c.company]);
    expect(dbCom).toHaveLength(130);
    expect(com.rows.map((r) => r.id)).toEqual(dbCom.map((r) => r.id));

    const asc = await exported(c, "commissions", "sort=amount&dir=asc");
    const dbAsc = await rows(`select id from public.commissions where company_id = $1 order by amount_cents, id`, [c.company]);
    expect(asc.rows.map((r) => r.id)).toEqual(dbAsc.map((r) => r.id));
    expect(new Set(asc.rows.map((r) => r.id)).size).toBe(130);

    const ref = await exported(c, "referrals");
    const dbRef = await rows(`select id from public.referrals where company_id = $1`, [c.company]);
    expect(ref.rows).toHaveLength(130);
    expect(new Set(ref.rows.map((r) => r.id))).toEqual(new Set(dbRef.map((r) => r.id)));

    const mem = await exported(c, "members", "sort=revenue&dir=asc");
    const dbMem = await rows(`select user_id from public.referral_stats where company_id = $1`, [c.company]);
    expect(mem.rows).toHaveLength(131);
    expect(new Set(mem.rows.map((m) => m.user_id))).toEqual(new Set(dbMem.map((m) => m.user_id)));
  });
});

// ── Access and tenancy ──────────────────────────────────────────────────────

describe("export: admins of the company only, its rows only", () => {
  it("no token → 401, a customer → 403, another company's admin → 403; no rows in any of them", async () => {
    const { c } = await story();
    const b = ids();
    await whopCompany(b.company, b.experience, { [b.other]: "admin" });
    for (const dataset of ["referrals", "commissions", "payouts", "members"]) {
      const anon = await download(c.company, dataset);
      expect(anon.status).toBe(401);
      expect(anon.headers.get("content-type")).toMatch(/^text\/plain/);
      const customer = await download(c.company, dataset, "", await userToken(c.referrer));
      expect(customer.status).toBe(403);
      const stranger = await download(c.company, dataset, "", await userToken(b.other));
      expect(stranger.status).toBe(403);
      for (const r of [anon, customer, stranger]) {
        expect(r.headers.get("content-disposition")).toBeNull();
        expect(r.text).not.toContain(c.referrer);
      }
    }
    // a garbage token is no token
    expect((await download(c.company, "members", "", "not.a.jwt")).status).toBe(401);
  });

  it("another company's rows never appear, even filtered by its member", async () => {
    const a = await story();
    const b = await story();
    for (const dataset of ["referrals", "commissions", "payouts", "members"]) {
      const { text } = await exported(a.c, dataset);
      for (const id of [b.c.referrer, b.c.referee, b.paymentId, b.payoutId, b.code]) expect(text, dataset).not.toContain(id);
      expect(text).toContain(a.c.referrer);
      const filtered = await exported(a.c, dataset, dataset === "members" ? `q=${b.code}` : `member=${b.c.referrer}`);
      expect(filtered.rows, dataset).toHaveLength(0);
    }
  });
});

describe("export: the response", () => {
  it("text/csv, an attachment named referly-<dataset>-<UTC date>.csv, not cached", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.other]: "admin" });
    for (const dataset of ["referrals", "commissions", "payouts", "members"]) {
      const before = new Date().toISOString().slice(0, 10);
      const r = await download(c.company, dataset, "", await userToken(c.other));
      const after = new Date().toISOString().slice(0, 10);
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toBe("text/csv; charset=utf-8");
      expect([before, after].map((d) => `attachment; filename="referly-${dataset}-${d}.csv"`)).toContain(
        r.headers.get("content-disposition"),
      );
      expect(r.headers.get("cache-control")).toBe("no-store");
    }
  });

  it("an unknown dataset → 404 (also names inherited from Object.prototype)", async () => {
    const c = ids();
    await whopCompany(c.company, c.experience, { [c.other]: "admin" });
    for (const dataset of ["bogus", "users", "constructor", "toString"]) {
      const r = await download(c.company, dataset, "", await userToken(c.other));
      expect(r.status, dataset).toBe(404);
      expect(r.text).toContain("Unknown export");
    }
  });
});
