/**
 * The supabase-js backend (lib/db/supabase.ts), for real: supabase-js builds PostgREST's
 * `POST /rest/v1/rpc/<name>` requests and parses the answers; the `fetch` it is given is
 * a small in-test PostgREST stand-in that runs each call on the real test Postgres
 * (referly_sql) and answers 200 with the JSON result, or 400 with PostgREST's error JSON.
 */
import { afterAll, describe, expect, inject, it } from "vitest";
import { z } from "zod";
import { DomainError, rpc } from "../../lib/db";
import { createPgBackend } from "../../lib/db/pg";
import { createSupabaseBackend } from "../../lib/db/supabase";
import { Earnings } from "../../lib/referrals";
import { ids } from "../helpers";

const SUPABASE_URL = "http://supabase.local";
const SERVICE_ROLE_KEY = "service-role-key";

const pgBackend = createPgBackend(inject("sqlDbUrl"));

interface Seen {
  method: string;
  path: string;
  apikey: string | null;
  authorization: string | null;
  contentType: string | null;
  body: unknown;
}
const seen: Seen[] = [];

const json = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json; charset=utf-8" } });

/** PostgREST's RPC contract, backed by the real database. */
const postgrest: typeof fetch = async (input, init) => {
  const req = new Request(input, init);
  const url = new URL(req.url);
  const text = await req.text();
  const body: unknown = text ? JSON.parse(text) : {};
  seen.push({
    method: req.method,
    path: url.pathname,
    apikey: req.headers.get("apikey"),
    authorization: req.headers.get("authorization"),
    contentType: req.headers.get("content-type"),
    body,
  });
  if (req.headers.get("apikey") !== SERVICE_ROLE_KEY) {
    return json(401, { code: "PGRST301", message: "Invalid API key", details: null, hint: null });
  }
  const m = /^\/rest\/v1\/rpc\/([a-z_][a-z0-9_]*)$/.exec(url.pathname);
  if (url.origin !== SUPABASE_URL || req.method !== "POST" || !m) {
    return json(404, { code: "PGRST202", message: `no route ${req.method} ${url.pathname}`, details: null, hint: null });
  }
  try {
    return json(200, await pgBackend.rpc(m[1], body as Record<string, unknown>));
  } catch (err) {
    const e = err as { code?: unknown; message?: unknown };
    if (typeof e.code === "string") {
      return json(400, { code: e.code, message: String(e.message), details: null, hint: null });
    }
    return json(500, { code: "", message: String(e.message ?? err), details: null, hint: null });
  }
};

const supabase = createSupabaseBackend(SUPABASE_URL, SERVICE_ROLE_KEY, postgrest);

afterAll(async () => {
  await supabase.close();
  await pgBackend.close();
});

const Code = z.object({ code: z.string() });

describe("supabase-js backend through PostgREST's RPC contract", () => {
  it("is the supabase kind", () => {
    expect(supabase.kind).toBe("supabase");
  });

  it("get_or_create_code works and gives the same code through both backends", async () => {
    const t = ids();
    const args = { p_company_id: t.company, p_user_id: t.referrer, p_username: "supa_user", p_name: "Supa" };
    const before = seen.length;
    const viaSupabase = await rpc("get_or_create_code", args, Code, supabase);
    expect(viaSupabase.code).toMatch(/^SUPAUSER[A-HJ-NP-Z2-9]{4}$/);
    const viaPg = await rpc("get_or_create_code", args, Code, pgBackend);
    expect(viaPg).toEqual(viaSupabase);
    expect(await rpc("get_or_create_code", args, Code, supabase)).toEqual(viaSupabase);

    // what supabase-js actually sent
    const mine = seen.slice(before);
    expect(mine).toHaveLength(2);
    expect(mine[0]).toEqual({
      method: "POST",
      path: "/rest/v1/rpc/get_or_create_code",
      apikey: SERVICE_ROLE_KEY,
      authorization: `Bearer ${SERVICE_ROLE_KEY}`,
      contentType: expect.stringContaining("application/json"),
      body: args,
    });
  });

  it("get_user_referral_earnings comes back as an array of rows", async () => {
    const t = ids();
    const code = (
      await rpc(
        "get_or_create_code",
        { p_company_id: t.company, p_user_id: t.referrer, p_username: "earner", p_name: null },
        Code,
        supabase,
      )
    ).code;
    const processed = await rpc(
      "process_webhook_event",
      {
        p_event_id: `evt_${t.company}`,
        p_type: "payment.succeeded",
        p_company_id: t.company,
        p_data: {
          id: `pay_${t.company}`,
          total: 110.0,
          tax_amount: 10.0,
          currency: "usd",
          user: { id: t.referee, username: "buyer", name: "Buyer" },
          metadata: { referral_code: code },
        },
      },
      z.object({ duplicate: z.boolean(), outcome: z.string() }),
      supabase,
    );
    expect(processed).toEqual({ duplicate: false, outcome: "commission_created" });

    const earnings = await rpc(
      "get_user_referral_earnings",
      { p_company_id: t.company, p_user_id: t.referrer },
      z.array(Earnings),
      supabase,
    );
    expect(earnings).toEqual([{ currency: "USD", total_earnings: 2000, pending_earnings: 2000, paid_earnings: 0 }]);
    expect(
      await rpc("get_user_referral_earnings", { p_company_id: t.company, p_user_id: t.referrer }, z.array(Earnings), pgBackend),
    ).toEqual(earnings);
    expect(
      await rpc("get_user_referral_earnings", { p_company_id: t.company, p_user_id: t.other }, z.array(Earnings), supabase),
    ).toEqual([]);
  });

  it("claim_referral with the member's own code surfaces as DomainError 400 with the SQL message", async () => {
    const t = ids();
    const { code } = await rpc(
      "get_or_create_code",
      { p_company_id: t.company, p_user_id: t.referrer, p_username: "selfish", p_name: null },
      Code,
      supabase,
    );
    const before = seen.length;
    const err = await rpc(
      "claim_referral",
      { p_company_id: t.company, p_user_id: t.referrer, p_code: code, p_username: "selfish" },
      z.unknown(),
      supabase,
    ).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DomainError);
    expect(err).toMatchObject({ status: 400, message: "You can't use your own referral code" });
    expect(seen.slice(before).map((s) => s.path)).toEqual(["/rest/v1/rpc/claim_referral"]);

    // and the other refusals keep their statuses through PostgREST too
    const t2 = ids();
    const err404 = await rpc(
      "claim_referral",
      { p_company_id: t2.company, p_user_id: t2.referee, p_code: code, p_username: null },
      z.unknown(),
      supabase,
    ).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err404).toBeInstanceOf(DomainError);
    expect(err404).toMatchObject({ status: 404, message: `No referral code "${code}" in this community` });
  });

  it("every request carried the service role key", () => {
    expect(seen.length).toBeGreaterThanOrEqual(8);
    for (const s of seen) {
      expect(s.apikey).toBe(SERVICE_ROLE_KEY);
      expect(s.authorization).toBe(`Bearer ${SERVICE_ROLE_KEY}`);
      expect(s.method).toBe("POST");
      expect(s.path).toMatch(/^\/rest\/v1\/rpc\/[a-z_]+$/);
    }
  });
});
