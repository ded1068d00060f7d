/**
 * A small local stand-in for the Whop API endpoints Referly calls, so the real
 * @whop/sdk can be pointed at it (WHOP_BASE_URL = `<url>/api/v1`). Demo mode runs one
 * (lib/launch.ts); tests run one and steer it over HTTP:
 *   POST /__sandbox/state     merge {companies, experiences, users, access, plans,
 *                             ledgerAccounts, fail, delay}
 *   GET  /__sandbox/requests  what the app sent (method, path, body, and the
 *                             Idempotency-Key header when there was one)
 * Endpoints: GET /users/:id, GET /users/:id/access/:resource, GET /experiences/:id,
 * GET /companies/:id, GET /plans?account_id= (cursor pages: `first` ≤ 100, `after`),
 * GET /ledger_accounts/:id (a biz_ id or the account's ldgr_ id, as Whop accepts),
 * POST and GET /checkout_configurations, POST /transfers (one transfer per idempotence
 * key, as Whop does), POST /promo_codes (one code per `Idempotency-Key` header; a code already
 * taken in the company without that key is a 400), GET /promo_codes?company_id= (the
 * company's codes, one page), POST /notifications (checked, an Idempotency-Key header required, answers {success: true}; what was
 * sent is in the requests log). Answers have the SDK's shapes (amounts in decimal
 * currency units). `fail` and `delay` make a route answer an error or answer late.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";

export type AccessLevel = "admin" | "customer" | "no_access";

/** A company's plan as the stand-in keeps it; GET /plans fills in the rest of the SDK's PlanListResponse. */
export interface SandboxPlan {
  id: string;
  title: string | null;
  /** decimal currency units, as Whop sends them */
  initial_price: number;
  renewal_price: number;
  /** lowercase ISO code, as Whop sends it ("usd") */
  currency: string;
  /** days between renewals; null for one-time plans */
  billing_period: number | null;
  plan_type: "renewal" | "one_time";
  visibility?: "visible" | "hidden" | "archived" | "quick_link";
  product?: { id: string; title: string } | null;
}

export interface SandboxState {
  /** route = the store page slug (whop.com/<route>); defaults to the company id */
  companies: Record<string, { title: string; route?: string }>;
  experiences: Record<string, { companyId: string; name: string }>;
  users: Record<string, { username: string; name: string | null }>;
  /** access[companyId][userId]; experiences inherit their company's */
  access: Record<string, Record<string, AccessLevel>>;
  /** plans[companyId], newest first (Whop's default order) */
  plans: Record<string, SandboxPlan[]>;
  /** ledgerAccounts[companyId]: the company's ldgr_ account, balances in decimal units */
  ledgerAccounts: Record<string, { id: string; balances: { currency: string; balance: number; pending_balance?: number }[] }>;
  /** access for users not listed (demo buyers) */
  defaultAccess: AccessLevel;
  /** "POST /checkout_configurations" → answer this status with this message (before the route runs: nothing is made) */
  fail: Record<string, { status: number; message: string }>;
  /** "POST /transfers" → wait this many ms before answering (timeouts) */
  delay: Record<string, number>;
  /** purchase_url = `${checkoutBaseUrl}/${id}` */
  checkoutBaseUrl: string;
}

export interface SandboxRequest {
  method: string;
  path: string;
  body: unknown;
  /** the Idempotency-Key header, when sent */
  idempotencyKey?: string;
}

export interface Sandbox {
  url: string;
  /** base URL for the SDK: `${url}/api/v1` */
  apiUrl: string;
  state: SandboxState;
  requests: SandboxRequest[];
  close(): Promise<void>;
}

const now = () => new Date().toISOString();

export async function startWhopSandbox(initial: Partial<SandboxState> = {}, port = 0): Promise<Sandbox> {
  const state: SandboxState = {
    companies: {},
    experiences: {},
    users: {},
    access: {},
    plans: {},
    ledgerAccounts: {},
    defaultAccess: "no_access",
    fail: {},
    delay: {},
    checkoutBaseUrl: "https://whop.com/checkout",
    ...initial,
  };
  const requests: SandboxRequest[] = [];
  const checkouts = new Map<string, Record<string, unknown>>();
  const transfers = new Map<string, Record<string, unknown>>();
  /** promo codes by idempotency key, the codes taken per company ("biz_…:CODE"), and each company's codes */
  const promoByKey = new Map<string, Record<string, unknown>>();
  const promoCodes = new Set<string>();
  const promosOf = new Map<string, Record<string, unknown>[]>();

  function answer(res: http.ServerResponse, status: number, body: unknown) {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  function accessOf(userId: string, resource: string): AccessLevel {
    const companyId = state.experiences[resource]?.companyId ?? resource;
    if (!state.companies[companyId]) return "no_access";
    return state.access[companyId]?.[userId] ?? state.defaultAccess;
  }

  const server = http.createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const raw = Buffer.concat(chunks).toString("utf8");
    let body: unknown = undefined;
    try {
      body = raw ? JSON.parse(raw) : undefined;
    } catch {
      return answer(res, 400, { error: { message: "invalid json" } });
    }
    const url = new URL(req.url ?? "/", "http://sandbox");
    const p = url.pathname;
    const method = req.method ?? "GET";

    if (p === "/__sandbox/state" && method === "POST") {
      const patch = (body ?? {}) as Partial<SandboxState>;
      for (const key of ["companies", "experiences", "users", "plans", "ledgerAccounts", "fail", "delay"] as const) {
        // a null value removes the entry (clears a failure or delay)
        for (const [k, v] of Object.entries(patch[key] ?? {})) {
          if (v === null) delete (state[key] as Record<string, unknown>)[k];
          else (state[key] as Record<string, unknown>)[k] = v;
        }
      }
      for (const [company, users] of Object.entries(patch.access ?? {})) {
        state.access[company] = { ...state.access[company], ...users };
      }
      if (patch.defaultAccess) state.defaultAccess = patch.defaultAccess;
      return answer(res, 200, { ok: true });
    }
    if (p === "/__sandbox/requests") return answer(res, 200, requests);

    const api = p.replace(/^\/api\/v1/, "");
    const idempotencyKey = typeof req.headers["idempotency-key"] === "string" ? req.headers["idempotency-key"] : undefined;
    requests.push({ method, path: api, body, ...(idempotencyKey ? { idempotencyKey } : {}) });
    const wait = state.delay[`${method} ${api}`];
    if (wait) await new Promise((r) => setTimeout(r, wait));
    const failure = state.fail[`${method} ${api}`];
    if (failure) return answer(res, failure.status, { error: { message: failure.message } });
    if (req.headers.authorization !== undefined && !/^Bearer \S+/.test(req.headers.authorization)) {
      return answer(res, 401, { error: { message: "bad api key" } });
    }

    let m: RegExpExecArray | null;
    if ((m = /^\/users\/([^/]+)\/access\/([^/]+)$/.exec(api)) && method === "GET") {
      const level = accessOf(decodeURIComponent(m[1]), decodeURIComponent(m[2]));
      return answer(res, 200, { access_level: level, has_access: level !== "no_access" });
    }
    if ((m = /^\/users\/([^/]+)$/.exec(api)) && method === "GET") {
      const id = decodeURIComponent(m[1]);
      const u = state.users[id];
      return answer(res, 200, { id, username: u?.username ?? id, name: u?.name ?? null, bio: null, created_at: now() });
    }
    if ((m = /^\/experiences\/([^/]+)$/.exec(api)) && method === "GET") {
      const id = decodeURIComponent(m[1]);
      const exp = state.experiences[id];
      if (!exp) return answer(res, 404, { error: { message: "experience not found" } });
      const company = state.companies[exp.companyId];
      return answer(res, 200, {
        id,
        name: exp.name,
        app: { id: "app_referly", name: "Referly", icon: null },
        company: { id: exp.companyId, title: company?.title ?? exp.companyId, route: company?.route ?? exp.companyId },
        created_at: now(),
        image: null,
        is_public: true,
        order: null,
        products: [],
      });
    }
    if ((m = /^\/companies\/([^/]+)$/.exec(api)) && method === "GET") {
      const id = decodeURIComponent(m[1]);
      const c = state.companies[id];
      if (!c) return answer(res, 404, { error: { message: "company not found" } });
      return answer(res, 200, {
        id,
        affiliate_instructions: null,
        created_at: now(),
        description: null,
        featured_affiliate_product: null,
        logo: null,
        member_count: 0,
        metadata: null,
        owner_user: { id: "user_sandboxowner", name: null, username: "owner" },
        published_reviews_count: 0,
        route: c.route ?? id,
        send_customer_emails: true,
        social_links: [],
        target_audience: null,
        title: c.title,
        updated_at: now(),
        verified: false,
      });
    }
    if (api === "/plans" && method === "GET") {
      const companyId = url.searchParams.get("account_id");
      if (!companyId) return answer(res, 400, { error: { message: "account_id is required" } });
      const c = state.companies[companyId];
      if (!c) return answer(res, 404, { error: { message: "company not found" } });
      const all = state.plans[companyId] ?? [];
      // cursor = index of the next plan; `first` defaults to and caps at 100, as Whop's does
      const start = Number(url.searchParams.get("after") ?? 0) || 0;
      const first = Math.min(Math.max(Number(url.searchParams.get("first") ?? 100) || 100, 1), 100);
      const page = all.slice(start, start + first);
      const more = start + first < all.length;
      return answer(res, 200, {
        data: page.map((p) => ({
          id: p.id,
          account: { id: companyId, title: c.title, route: c.route ?? companyId },
          adaptive_pricing_enabled: false,
          billing_period: p.billing_period,
          created_at: now(),
          currency: p.currency,
          description: null,
          expiration_days: null,
          initial_price: p.initial_price,
          internal_notes: null,
          invoice: null,
          member_count: 0,
          metadata: null,
          payment_method_configuration: null,
          plan_type: p.plan_type,
          product: p.product ?? null,
          purchase_url: `https://whop.com/checkout/${p.id}`,
          release_method: "buy_now",
          renewal_price: p.renewal_price,
          split_pay_required_payments: null,
          stock: null,
          three_ds_level: null,
          title: p.title,
          trial_period_days: null,
          unlimited_stock: true,
          updated_at: now(),
          visibility: p.visibility ?? "visible",
        })),
        page_info: {
          start_cursor: page.length ? String(start) : null,
          end_cursor: more ? String(start + first) : null,
          has_next_page: more,
          has_previous_page: start > 0,
        },
      });
    }
    if ((m = /^\/ledger_accounts\/([^/]+)$/.exec(api)) && method === "GET") {
      const id = decodeURIComponent(m[1]);
      // Whop accepts the owner's id (biz_/user_) or the ldgr_ id itself
      const companyId = state.ledgerAccounts[id] ? id : Object.keys(state.ledgerAccounts).find((k) => state.ledgerAccounts[k].id === id);
      if (!companyId) return answer(res, 404, { error: { message: "ledger account not found" } });
      const account = state.ledgerAccounts[companyId];
      const c = state.companies[companyId];
      return answer(res, 200, {
        id: account.id,
        balances: account.balances.map((b) => ({
          balance: b.balance,
          currency: b.currency,
          pending_balance: b.pending_balance ?? 0,
          reserve_balance: 0,
        })),
        ledger_type: "primary",
        owner: { id: companyId, route: c?.route ?? companyId, title: c?.title ?? companyId, typename: "Company" },
        payments_approval_status: "approved",
        payout_account_details: null,
        transfer_fee: null,
        treasury_balance: null,
      });
    }
    if (api === "/checkout_configurations" && method === "POST") {
      const b = (body ?? {}) as Record<string, unknown>;
      if (typeof b.plan_id !== "string") return answer(res, 400, { error: { message: "plan_id is required" } });
      const id = `ch_${randomUUID().replace(/-/g, "").slice(0, 16)}`;
      const config = {
        id,
        account_id: "biz_sandbox",
        created_at: now(),
        updated_at: now(),
        mode: "payment",
        metadata: b.metadata ?? null,
        plan: { id: b.plan_id },
        purchase_url: `${state.checkoutBaseUrl}/${id}`,
        redirect_url: b.redirect_url ?? null,
      };
      checkouts.set(id, config);
      return answer(res, 200, config);
    }
    if ((m = /^\/checkout_configurations\/([^/]+)$/.exec(api)) && method === "GET") {
      const config = checkouts.get(decodeURIComponent(m[1]));
      return config ? answer(res, 200, config) : answer(res, 404, { error: { message: "checkout not found" } });
    }
    if (api === "/transfers" && method === "POST") {
      const b = (body ?? {}) as Record<string, unknown>;
      const key = typeof b.idempotence_key === "string" ? b.idempotence_key : randomUUID();
      // the same idempotence key answers the same transfer, as Whop does
      let t = transfers.get(key);
      if (!t) {
        t = { id: `xfer_${randomUUID().replace(/-/g, "").slice(0, 16)}`, ...b, created_at: now() };
        transfers.set(key, t);
      }
      return answer(res, 200, t);
    }
    if (api === "/promo_codes" && method === "POST") {
      const b = (body ?? {}) as Record<string, unknown>;
      if (typeof b.code !== "string" || typeof b.company_id !== "string") {
        return answer(res, 400, { error: { message: "code and company_id are required" } });
      }
      // the same key answers the same promo code, as an idempotent API does
      const known = idempotencyKey ? promoByKey.get(idempotencyKey) : undefined;
      if (known) return answer(res, 200, known);
      const taken = `${b.company_id}:${String(b.code).toUpperCase()}`;
      if (promoCodes.has(taken)) return answer(res, 400, { error: { message: "code already exists" } });
      const promo = { id: `promo_${randomUUID().replace(/-/g, "").slice(0, 12)}`, ...b, created_at: now() };
      promoCodes.add(taken);
      promosOf.set(b.company_id, [...(promosOf.get(b.company_id) ?? []), promo]);
      if (idempotencyKey) promoByKey.set(idempotencyKey, promo);
      return answer(res, 200, promo);
    }
    if (api === "/notifications" && method === "POST") {
      const b = (body ?? {}) as Record<string, unknown>;
      if (typeof b.title !== "string" || typeof b.content !== "string" || (typeof b.experience_id !== "string" && typeof b.company_id !== "string")) {
        return answer(res, 400, { error: { message: "title, content and experience_id or company_id are required" } });
      }
      // Referly sends every create with an Idempotency-Key (a retry after a lost answer must
      // not notify twice): the stand-in refuses one without, so a missing key fails a test
      if (!idempotencyKey) return answer(res, 400, { error: { message: "Idempotency-Key header is required" } });
      // queued for delivery, as Whop answers
      return answer(res, 200, { success: true });
    }
    if (api === "/promo_codes" && method === "GET") {
      const companyId = url.searchParams.get("company_id");
      if (!companyId) return answer(res, 400, { error: { message: "company_id is required" } });
      const data = promosOf.get(companyId) ?? [];
      return answer(res, 200, {
        data,
        page_info: { start_cursor: null, end_cursor: null, has_next_page: false, has_previous_page: false },
      });
    }
    return answer(res, 404, { error: { message: `no sandbox route for ${method} ${api}` } });
  });

  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    apiUrl: `${url}/api/v1`,
    state,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
