/**
 * Demo with history (demo mode only): six months of a living referral program in the demo
 * company — about 40 members, ten of them referrers with a heavy tail (one star), clicks
 * from several sources and countries (a few bots), signups, first payments and monthly
 * renewals, a partial refund before payout, a dispute after payout (a clawback), a churned
 * member, released commissions, completed payouts and open ones, points and redemptions.
 *
 * Everything is written by the production SQL functions (record_click,
 * process_webhook_event, release_commissions, request_payout, start_payout,
 * complete_payout, redeem_points_item, settle_redemption, grant_points): no row of the
 * ledger or anywhere else is written by hand. Only the dates are moved, like this:
 *
 *  - The functions stamp now(). Every event has a time T with a zero sub-second part (a
 *    whole number of seconds before the moment of seeding), and every timestamp a function
 *    writes is now() or now() + a whole interval (hold days, attribution window), so it
 *    carries now()'s sub-second part. After each event, every timestamp of the demo company
 *    in a row this transaction wrote (age(xmin) <= 0: our id or one of our
 *    subtransactions') that carries now()'s sub-second part is moved by T − now()
 *    (`referly_history_shift`). Values of earlier events are whole seconds by then, and
 *    rows of other transactions (seed.sql) are not ours, so nothing moves twice.
 *  - A few functions compare a stored time with now() (a pending referral's expiry, the
 *    recurring and level-2 windows, release_commissions' hold). Before calling them at T
 *    the compared values are moved by now() − T ("seen from T"), so the function decides as
 *    it would have at T; the shift afterwards moves them back exactly (the session is in
 *    UTC, where a day is 24 h, so the two intervals cancel to the microsecond).
 *  - The whole history is one transaction, so a crash leaves nothing behind and the marker
 *    check (payments `pay_hist_…`) is exact; now() is the same for every event, which the
 *    rule above does not mind. It runs with session_replication_role = replica: no trigger
 *    fires, since the ledger's append-only guard would refuse the dating and the rollup
 *    triggers would bucket everything on today's date. Global jobs run with triggers on
 *    (they may touch other companies). At the end the jobs catch up at the real time
 *    (release_commissions, expire_referrals), the demo's rollups and leaderboards are rebuilt
 *    from its rows (rebuild_analytics, rebuild_leaderboards: the repair paths), the finished
 *    weeks and months are frozen (snapshot_leaderboards) and check_analytics must say ok.
 *  - The plan is made first (`buildPlan`: every event as literal SQL; a statement that needs
 *    an earlier result looks it up, e.g. the payout requested at a given time), then sent
 *    as a script, a few hundred statements per round trip: about a second in all.
 *
 * Deterministic: a seeded PRNG (mulberry32) and times relative to the moment of seeding,
 * so two fresh databases get the same members, counts and money; only ids and absolute
 * dates differ. Needs a superuser (the embedded Postgres of demo mode is one) for
 * session_replication_role; otherwise it seeds nothing and says why.
 */
import pg from "pg";
import { DEMO_COMPANY_ID, DEMO_PLAN_ID, membershipActivatedEvent, paymentSucceededEvent } from ".";

/** Payments of the history start with this: their presence means "already seeded". */
export const DEMO_HISTORY_PAYMENT_PREFIX = "pay_hist_";
const PRODUCT_ID = "prod_referlydemo";
const DAY = 86_400;
const HOUR = 3_600;
const MIN = 60;

// ── Deterministic randomness ────────────────────────────────────────────────

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ── The cast ────────────────────────────────────────────────────────────────

type Source = "youtube" | "x" | "discord" | "reddit" | "google" | "instagram" | "direct";
type Plan = "monthly" | "yearly" | "lifetime";

interface Referrer {
  key: string;
  username: string;
  name: string;
  code: string;
  /** days ago the member got their link (referees who become referrers: after they paid) */
  start: number;
  /** counted clicks per day, on average, from start until today */
  clicksPerDay: number;
  sources: [Source, number][];
  /** converting referrals picked at random (besides the fixed ones below) */
  conversions: number;
  /** referrals who join but never pay */
  signupsOnly: number;
  bots: string[];
  /** payout requests: [days ago, days until the creator pays it (null: still open)] */
  payouts: [number, number | null][];
}

const REFERRERS: Referrer[] = [
  {
    key: "maya", username: "mayachen", name: "Maya Chen", code: "MAYA", start: 176, clicksPerDay: 2.4,
    sources: [["youtube", 6], ["x", 3], ["google", 1], ["direct", 2]], conversions: 9, signupsOnly: 2,
    bots: ["Googlebot/2.1 (+http://www.google.com/bot.html)", "Twitterbot/1.0", "facebookexternalhit/1.1"],
    payouts: [[150, 2], [121, 1], [91, 2], [60, 1], [31, 2], [3, null]],
  },
  {
    key: "leo", username: "leo.lifts", name: "Leo Martins", code: "LEOFIT", start: 168, clicksPerDay: 1.1,
    sources: [["discord", 6], ["reddit", 2], ["direct", 1]], conversions: 3, signupsOnly: 1,
    bots: ["Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)"],
    payouts: [[118, 3], [72, 2], [21, 2]],
  },
  {
    key: "priya", username: "priya_k", name: "Priya Kapoor", code: "PRIYAK", start: 152, clicksPerDay: 0.7,
    sources: [["reddit", 4], ["google", 2], ["direct", 1]], conversions: 4, signupsOnly: 1,
    bots: ["Mozilla/5.0 (compatible; redditbot/1.0)"], payouts: [[98, 2], [44, 1]],
  },
  {
    key: "noah", username: "noahtrades", name: "Noah Becker", code: "NOAHTRADES", start: 131, clicksPerDay: 0.5,
    sources: [["x", 4], ["youtube", 2], ["direct", 1]], conversions: 3, signupsOnly: 0,
    bots: ["Twitterbot/1.0"], payouts: [[52, 2]],
  },
  {
    key: "sofia", username: "sofia.r", name: "Sofia Rossi", code: "SOFIA", start: 112, clicksPerDay: 0.35,
    sources: [["instagram", 4], ["direct", 1]], conversions: 2, signupsOnly: 0, bots: [], payouts: [[7, null]],
  },
  {
    key: "ethan", username: "ethanw", name: "Ethan Walker", code: "ETHANW", start: 116, clicksPerDay: 0.4,
    sources: [["discord", 2], ["google", 1], ["direct", 1]], conversions: 2, signupsOnly: 0, bots: [], payouts: [],
  },
  {
    key: "chloe", username: "chloe.designs", name: "Chloé Dubois", code: "CHLOE", start: 143, clicksPerDay: 0.3,
    sources: [["instagram", 3], ["x", 1]], conversions: 1, signupsOnly: 0, bots: [], payouts: [],
  },
  {
    key: "omar", username: "omar.builds", name: "Omar Haddad", code: "OMARB", start: 84, clicksPerDay: 0.3,
    sources: [["youtube", 1], ["reddit", 1], ["direct", 1]], conversions: 1, signupsOnly: 0, bots: [], payouts: [],
  },
  {
    key: "jake", username: "jake_m", name: "Jake Morgan", code: "JAKEM", start: 63, clicksPerDay: 0.35,
    sources: [["x", 1], ["direct", 1]], conversions: 0, signupsOnly: 1, bots: [], payouts: [],
  },
  {
    key: "ava", username: "ava.writes", name: "Ava Thompson", code: "AVAWRITES", start: 26, clicksPerDay: 0.6,
    sources: [["reddit", 1], ["google", 1]], conversions: 0, signupsOnly: 0, bots: [], payouts: [],
  },
];

/** Members who join through a link (besides Chloé and Ethan, referrers who were referred themselves). */
const REFEREES: [string, string][] = [
  ["daniel.k", "Daniel Kim"], ["emma.s", "Emma Schulz"], ["lucas_p", "Lucas Pereira"], ["mia.j", "Mia Johansson"],
  ["oliver.b", "Oliver Brown"], ["zoe.l", "Zoé Laurent"], ["aiden.r", "Aiden Reyes"], ["isla.m", "Isla MacLeod"],
  ["mateo.g", "Mateo García"], ["hannah.w", "Hannah Weber"], ["kai.n", "Kai Nakamura"], ["grace.o", "Grace Okafor"],
  ["finn.h", "Finn Hansen"], ["nora.v", "Nora Virtanen"], ["arjun.s", "Arjun Sharma"], ["lily.c", "Lily Carter"],
  ["jonas.f", "Jonas Fischer"], ["amara.d", "Amara Diallo"], ["ryan.t", "Ryan Tanaka"], ["elena.p", "Elena Popescu"],
  ["marcus.l", "Marcus Lee"], ["freya.n", "Freya Nilsson"], ["diego.a", "Diego Alvarez"], ["yuki.s", "Yuki Sato"],
  ["ben.o", "Ben O'Connor"], ["sara.h", "Sara Haddad"], ["tom.w", "Tom Whitfield"], ["ines.c", "Inês Costa"],
  ["victor.m", "Victor Moreau"], ["layla.a", "Layla Ahmed"], ["henry.g", "Henry Grant"], ["nina.k", "Nina Kowalski"],
  ["theo.b", "Théo Bernard"], ["julia.r", "Julia Romero"],
  // the campaign's referees (joined last, see buildPlan)
  ["ruby.e", "Ruby Evans"], ["sami.k", "Sami Korhonen"], ["paula.v", "Paula Vidal"],
];

const COUNTRIES: [string | null, number][] = [
  ["US", 34], ["GB", 12], ["CA", 8], ["DE", 7], ["AU", 6], ["FR", 5], ["IN", 6], ["BR", 5], ["NL", 3], ["ES", 3],
  ["SE", 2], ["MX", 2], [null, 2],
];

const USER_AGENTS = [
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
  "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36",
  "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
  "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Mobile Safari/537.36",
  "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15",
  "Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
];

const PLANS: Record<Plan, { planId: string; total: number }> = {
  monthly: { planId: DEMO_PLAN_ID, total: 49.99 },
  yearly: { planId: "plan_referlydemoyr", total: 499 },
  lifetime: { planId: "plan_referlydemolt", total: 299 },
};

// ── The plan: events as SQL, made before touching the database ─────────────

/**
 * One event: its time (seconds before the moment of seeding, > 0) and its statements
 * (literal SQL, given the event's time and how to turn any `t` into a time). A statement
 * that needs an earlier result looks it up (the code of a member, the click id kept under a
 * key, the payout requested at a given time), so the whole history runs as a script.
 */
interface Ev {
  t: number;
  seq: number;
  click?: boolean;
  sql: (at: string, iso: (t: number) => string) => string[];
}

interface Join {
  referrer: Referrer;
  user: { id: string; username: string; name: string };
  /** seconds ago of the click that brought them */
  t: number;
  plan: Plan | null; // null: joins, never pays
  trial: boolean;
  /** stop paying after this many monthly payments (null: still a member) */
  payments: number | null;
  /** a dispute of their 2nd payment, when this many seconds ago (they leave then) */
  disputeAt?: number;
  /** a partial refund of the first payment (decimal amount) this many seconds ago */
  refund?: { at: number; amount: number };
}

const L = (v: string | null | undefined) => (v == null ? "null" : pg.escapeLiteral(v));
const J = (v: unknown) => `${L(JSON.stringify(v))}::jsonb`;
const CO = L(DEMO_COMPANY_ID);
const TS = (at: string) => `${L(at)}::timestamptz`;
/** the member's referral code, looked up when the statement runs */
const codeOf = (userId: string) => `(select code from public.referral_codes where company_id = ${CO} and user_id = ${L(userId)})`;
/** ids without the username's dots */
const slug = (username: string) => username.replace(/[^a-z0-9]/g, "");

function buildPlan(): Ev[] {
  const rand = mulberry32(0x2026_0d3e);
  const between = (lo: number, hi: number) => lo + rand() * (hi - lo);
  const int = (lo: number, hi: number) => Math.floor(between(lo, hi + 1));
  const pick = <T>(xs: T[]) => xs[Math.floor(rand() * xs.length)];
  const weighted = <T>(pairs: [T, number][]): T => {
    let x = rand() * pairs.reduce((s, [, w]) => s + w, 0);
    for (const [v, w] of pairs) if ((x -= w) < 0) return v;
    return pairs[pairs.length - 1][0];
  };
  const hex = () => Array.from({ length: 32 }, () => "0123456789abcdef"[Math.floor(rand() * 16)]).join("");
  const referrerUrl = (s: Source): string | null => {
    switch (s) {
      case "youtube": return `https://www.youtube.com/watch?v=${hex().slice(0, 11)}`;
      case "x": return rand() < 0.5 ? "https://x.com/" : `https://t.co/${hex().slice(0, 10)}`;
      case "discord": return `https://discord.com/channels/${hex().slice(0, 18)}`;
      case "reddit": return pick(["https://www.reddit.com/r/Entrepreneur/", "https://www.reddit.com/r/sidehustle/", "https://old.reddit.com/r/startups/"]);
      case "google": return "https://www.google.com/";
      case "instagram": return "https://l.instagram.com/";
      case "direct": return null;
    }
  };

  const events: Ev[] = [];
  let seq = 0;
  const at = (t: number, sql: Ev["sql"], click = false) => events.push({ t: Math.round(t), seq: seq++, sql, click });
  const byKey = new Map(REFERRERS.map((r) => [r.key, r]));
  const userOf = (r: Referrer) => ({ id: `user_hist_${r.key}`, username: r.username, name: r.name });

  // ── who joins through whom, and when ──
  const joins: Join[] = [];
  let pool = 0;
  const nextReferee = () => {
    const [username, name] = REFEREES[pool++];
    return { id: `user_hist_${slug(username)}`, username, name };
  };
  const fixed = (referrer: string, user: Join["user"], day: number, plan: Plan, extra: Partial<Join> = {}) =>
    joins.push({ referrer: byKey.get(referrer)!, user, t: day * DAY + int(0, 10 * HOUR), plan, trial: false, payments: null, ...extra });
  // the star's first referral starts referring herself; Leo's becomes a referrer too
  fixed("maya", userOf(byKey.get("chloe")!), 150, "monthly");
  fixed("leo", userOf(byKey.get("ethan")!), 125, "yearly");
  // a dispute after the commission was paid out (→ clawback), and the member leaves
  fixed("maya", nextReferee(), 141, "monthly", { disputeAt: 63 * DAY + 2 * HOUR });
  // a partial refund while the commission is still in its hold period
  fixed("leo", nextReferee(), 41, "yearly", { refund: { at: 38 * DAY + 5 * HOUR, amount: 100 } });
  for (const r of REFERRERS) {
    const n = r.conversions + r.signupsOnly;
    // stratified over the referrer's active days, the last one at least 2 days ago
    const slots = Array.from({ length: n }, (_, i) => r.start - 1 - ((i + between(0.1, 0.9)) * (r.start - 3)) / n);
    const converting = new Set<number>();
    while (converting.size < r.conversions) converting.add(int(0, n - 1));
    slots.forEach((day, i) => {
      const t = day * DAY + int(0, 12 * HOUR);
      if (!converting.has(i)) {
        joins.push({ referrer: r, user: nextReferee(), t, plan: null, trial: false, payments: null });
        return;
      }
      const plan = weighted<Plan>([["monthly", 7], ["yearly", 2], ["lifetime", 1]]);
      const trial = plan === "monthly" && rand() < 0.2 && t > 9 * DAY;
      const churn = plan === "monthly" && rand() < 0.3 ? int(1, 3) : null;
      joins.push({ referrer: r, user: nextReferee(), t, plan, trial, payments: churn });
    });
  }

  // ── links: each referrer's code (a vanity one), the day they got it ──
  for (const r of REFERRERS) {
    const u = userOf(r);
    at(r.start * DAY + int(2 * HOUR, 8 * HOUR), () => [
      `select public.get_or_create_code(${CO}, ${L(u.id)}, ${L(u.username)}, ${L(u.name)})`,
      `select pg_temp.referly_history_vanity(${CO}, ${L(u.id)}, ${L(r.code)})`,
    ]);
  }

  // ── clicks that did not convert (and a few bots) ──
  const click = (r: Referrer, t: number, o: { bot?: string; key?: string } = {}) => {
    const url = referrerUrl(weighted(r.sources));
    const country = o.bot ? null : weighted(COUNTRIES);
    const ua = o.bot ?? pick(USER_AGENTS);
    const visitor = o.bot ? `bot-${hex()}` : hex();
    at(
      t,
      (when) => [
        `select pg_temp.referly_history_click(${CO}, ${L(`user_hist_${r.key}`)}, ${L(visitor)}, ${L(ua)}, ${L(url)},
           ${L(country)}, ${Boolean(o.bot)}, ${TS(when)}, ${L(o.key)})`,
      ],
      true,
    );
  };
  for (const r of REFERRERS) {
    for (let day = r.start - 1; day >= 0; day--) {
      // a quiet first week, then waves (a video or a post gets around)
      const ramp = Math.min(1, (r.start - day) / 7);
      const wave = 0.7 + 0.6 * Math.abs(Math.sin(day / 9));
      const expected = r.clicksPerDay * ramp * wave;
      let n = Math.floor(expected) + (rand() < expected % 1 ? 1 : 0);
      while (n-- > 0) {
        const t = day * DAY + int(MIN, DAY - MIN);
        if (t > 2 * MIN) click(r, t);
      }
    }
    r.bots.forEach((bot, i) => click(r, (r.start - 2 - i * 23) * DAY + int(HOUR, 20 * HOUR), { bot }));
  }

  // ── referrals: click → membership → payments, renewals, churn, refunds ──
  const webhook = (eventId: string, type: string, data: string) =>
    `select public.process_webhook_event(${L(eventId)}, ${L(type)}, ${CO}, ${data})`;
  /** the checkout's metadata: the referrer's code and the click that brought the member */
  const metadata = (j: Join, key: string) =>
    `jsonb_build_object('metadata', jsonb_build_object('referral_code', ${codeOf(`user_hist_${j.referrer.key}`)},
       'click_id', (select click_id from pg_temp.referly_history_keys where key = ${L(key)})))`;
  const payment = (at: string, j: Join, n: number) =>
    stamped(
      paymentSucceededEvent({
        eventId: `evt_hist_pay_${slug(j.user.username)}_${n}`,
        paymentId: `${DEMO_HISTORY_PAYMENT_PREFIX}${slug(j.user.username)}_${n}`,
        membershipId: `mem_hist_${slug(j.user.username)}`,
        companyId: DEMO_COMPANY_ID,
        user: j.user,
        planId: PLANS[j.plan!].planId,
        productId: PRODUCT_ID,
        total: PLANS[j.plan!].total,
        metadata: null,
        billingReason: j.plan === "lifetime" ? "one_time" : n === 1 ? "subscription_create" : "subscription_cycle",
      }),
      at,
    ).data;
  const membership = (at: string, j: Join, status: string) => {
    const e = stamped(
      membershipActivatedEvent({
        eventId: "",
        membershipId: `mem_hist_${slug(j.user.username)}`,
        companyId: DEMO_COMPANY_ID,
        user: j.user,
        planId: PLANS[j.plan ?? "monthly"].planId,
        metadata: null,
      }),
      at,
    );
    return { ...e.data, status, product: { ...e.data.product, id: PRODUCT_ID } };
  };
  /** The payer's referral seen from the event's time (its expiry and windows are compared with now()). */
  const seenFrom = (at: string, userId: string) =>
    `update public.referrals set
       expires_at = case when expires_at = date_trunc('second', expires_at) then expires_at + (now() - ${TS(at)}) else expires_at end,
       converted_at = case when converted_at = date_trunc('second', converted_at) then converted_at + (now() - ${TS(at)}) else converted_at end
     where company_id = ${CO} and referee_user_id = ${L(userId)}`;

  /** A referral's life as events: clicks, membership, payments, refunds, churn. */
  const play = (j: Join) => {
    const key = `join:${j.user.id}`;
    const name = slug(j.user.username);
    // the visitor often looks around once before buying
    if (rand() < 0.5) click(j.referrer, Math.min(j.t + int(HOUR, 3 * DAY), (j.referrer.start - 1) * DAY));
    click(j.referrer, j.t, { key });
    const tJoin = j.t - int(4 * MIN, 25 * MIN);
    at(tJoin, (when) => [
      webhook(`evt_hist_join_${name}`, "membership.activated", `${J(membership(when, j, "active"))} || ${metadata(j, key)}`),
    ]);
    if (!j.plan) return;
    const first = j.trial ? tJoin - 7 * DAY : tJoin - int(20, 90);
    at(first, (when) => [
      seenFrom(when, j.user.id),
      webhook(`evt_hist_pay_${name}_1`, "payment.succeeded", `${J(payment(when, j, 1))} || ${metadata(j, key)}`),
    ]);
    if (j.refund) {
      const amount = j.refund.amount;
      at(j.refund.at, (when) => [
        webhook(`evt_hist_refund_${name}`, "refund.created", J({
          id: `rfnd_hist_${name}`, amount, currency: "usd", status: "succeeded",
          payment: { id: `${DEMO_HISTORY_PAYMENT_PREFIX}${name}_1` }, created_at: when,
        })),
      ]);
    }
    if (j.plan !== "monthly") return;
    // renewals every 30 days while a member, until today
    let leftAt: number | null = null;
    let n = 1;
    for (let t = first - 30 * DAY - int(0, 2 * HOUR); t > 10 * MIN; t -= 30 * DAY + int(0, 2 * HOUR)) {
      if (j.disputeAt !== undefined && t < j.disputeAt) break;
      if (j.payments !== null && n >= j.payments) {
        leftAt = t + int(HOUR, 6 * HOUR); // the renewal failed; the membership ends
        break;
      }
      const k = ++n;
      at(t, (when) => [seenFrom(when, j.user.id), webhook(`evt_hist_pay_${name}_${k}`, "payment.succeeded", J(payment(when, j, k)))]);
    }
    if (j.disputeAt !== undefined) {
      at(j.disputeAt, (when) => [
        webhook(`evt_hist_dispute_${name}`, "dispute.created", J({
          id: `dspt_hist_${name}`, amount: PLANS[j.plan!].total, currency: "usd", status: "needs_response",
          reason: "product_not_received", payment: { id: `${DEMO_HISTORY_PAYMENT_PREFIX}${name}_2` }, created_at: when,
        })),
      ]);
      leftAt = j.disputeAt - 10 * MIN;
    }
    if (leftAt !== null && leftAt > MIN) {
      at(leftAt, (when) => [webhook(`evt_hist_leave_${name}`, "membership.deactivated", J(membership(when, j, "canceled")))]);
    }
  };
  for (const j of joins) play(j);

  // ── payouts: the member asks for their available balance, the creator pays it ──
  let transfer = 0;
  for (const r of REFERRERS) {
    const u = L(`user_hist_${r.key}`);
    for (const [day, after] of r.payouts) {
      const t = day * DAY + int(2 * HOUR, 10 * HOUR);
      const tr = L(`tr_demo_hist_${String(++transfer).padStart(3, "0")}`);
      // released as of then, and asked for when at or above the minimum
      at(t, (when) => [
        ...release(when),
        `select public.request_payout(${CO}, ${u})
         where public.available_balance(${CO}, ${u}) >= (select greatest(min_payout_cents, 1) from public.programs where company_id = ${CO})
           and not exists (select 1 from public.payouts where company_id = ${CO} and user_id = ${u} and status in ('requested', 'processing'))`,
      ]);
      if (after === null) continue;
      // the creator approves it: start_payout, Whop's transfer, complete_payout
      const requested = (iso: (t: number) => string) =>
        `o.company_id = ${CO} and o.user_id = ${u} and o.requested_at = ${TS(iso(t))}`;
      at(t - after * DAY - int(HOUR, 5 * HOUR), (_, iso) => [
        `select public.start_payout(${CO}, o.id) from public.payouts o
         where ${requested(iso)} and o.status = 'requested'
           and exists (select 1 from public.programs where company_id = ${CO} and ledger_account_id is not null)`,
        `select public.complete_payout(${CO}, o.id, ${tr}) from public.payouts o where ${requested(iso)} and o.status = 'processing'`,
      ]);
    }
  }

  // ── points: a few rewards redeemed (when the balance allows), one creator grant ──
  const redeem = (key: string, t: number, grantType: "discount" | "custom", settle: ("granted" | "claimed")[]) => {
    const u = L(`user_hist_${key}`);
    at(t, () => [
      `select public.redeem_points_item(${CO}, ${u}, i.id)
       from (select id, cost_points from public.points_items where company_id = ${CO} and is_active and grant_type = ${L(grantType)}
             order by cost_points desc, name limit 1) i
       where coalesce((select balance from public.points_balances where company_id = ${CO} and user_id = ${u}), 0) >= i.cost_points`,
    ]);
    const result = grantType === "discount" ? { promo_code: `RFDEMO${key.toUpperCase()}` } : { fulfilled: true };
    settle.forEach((status, i) =>
      at(t - (i + 1) * (DAY + HOUR), (_, iso) => [
        `select public.settle_redemption(${CO}, r.id, ${L(status)}, ${status === "granted" ? J(result) : "null"}, null)
         from public.redemptions r
         where r.company_id = ${CO} and r.user_id = ${u} and r.created_at = ${TS(iso(t))}
           and r.status = ${L(status === "granted" ? "pending" : "granted")}`,
      ]),
    );
  };
  redeem("maya", 95 * DAY + 3 * HOUR, "discount", ["granted", "claimed"]);
  redeem("priya", 55 * DAY + 7 * HOUR, "custom", ["granted"]);
  redeem("noah", 24 * DAY + 2 * HOUR, "discount", ["granted"]);
  redeem("leo", 9 * DAY + 4 * HOUR, "custom", []); // waiting for the creator
  at(100 * DAY + 5 * HOUR, () => [`select public.grant_points(${CO}, 'user_hist_maya', 250, 'Thanks for the YouTube review!')`]);

  // ── milestones (from the start) and a running campaign (the last 12 days, 16 to go) ──
  // Played after everything above, so the random draws before are the same as without them.
  at(178 * DAY, () => [
    `select public.create_reward(${CO}, ${J({ name: "Three friends in", description: "300 points when 3 people you invited have paid.", threshold: 3, reward_type: "points", reward_data: { points: 300 } })})`,
    `select public.create_reward(${CO}, ${J({ name: "Ten referrals: half off", description: "50 % off your next month once 10 people you invited have paid.", threshold: 10, reward_type: "discount", reward_data: { percent_off: 50 }, auto_apply: false })})`,
  ]);
  at(12 * DAY, (when, iso) => [
    `select public.create_campaign(${CO}, ${J({
      name: "Black Friday sprint",
      description: "+5 % commission and 100 bonus points on every referral until the end of the month. Top three win prizes.",
      start_date: when, end_date: iso(-16 * DAY), scheduled: true,
      rules: { bonus_rate_bp: 500, bonus_points: 100, product_ids: [] },
      prizes: {
        top: [
          { reward_type: "commission", reward_data: { amount_cents: 10000 } },
          { reward_type: "points", reward_data: { points: 1000 } },
          { reward_type: "discount", reward_data: { percent_off: 25 } },
        ],
        reach: { count: 3, prize: { reward_type: "custom", reward_data: { note: "A Referly hoodie, shipped to you" } } },
      },
    })})`,
  ]);
  // ── gamification on, after the history (its amounts are the program's own terms): streaks,
  // tiers, surprise drops and a challenge for this month ──
  at(1, () => [
    `select public.update_program_settings(${CO}, ${J({ streaks_enabled: true, tiers_enabled: true, drop_chance_pct: 10, drop_points: 50 })})`,
    `select public.create_challenge(${CO}, ${J({ challenge_name: "Refer 3 this month", target_referrals: 3, period: "month", reward_type: "points", reward_data: { points: 300 } })})`,
  ]);
  const sprint: Join[] = [];
  const sprintJoin = (referrer: string, day: number, plan: Plan) =>
    sprint.push({ referrer: byKey.get(referrer)!, user: nextReferee(), t: day * DAY + int(0, 10 * HOUR), plan, trial: false, payments: null });
  sprintJoin("maya", 9, "monthly");
  sprintJoin("priya", 6, "yearly");
  sprintJoin("maya", 4, "monthly");
  for (const j of sprint) play(j);

  // time order: oldest first; same second → as planned
  return events.sort((a, b) => b.t - a.t || a.seq - b.seq);
}

/**
 * release_commissions() as of `at`: the demo's pending holds are seen from then. The job is
 * global, so it runs with triggers on: other companies' commissions it releases (due at the
 * real time) keep their rollups.
 */
const release = (at: string) => [
  `update public.commissions set available_at = available_at + (now() - ${TS(at)})
   where company_id = ${CO} and status = 'pending' and available_at = date_trunc('second', available_at)`,
  `set local session_replication_role = origin`,
  `select public.release_commissions()`,
  `set local session_replication_role = replica`,
];

/** An event payload with its times set to the event's time. */
function stamped<T extends { timestamp: string; data: object }>(e: T, at: string): T {
  const data = { ...e.data } as Record<string, unknown>;
  for (const k of ["created_at", "updated_at", "paid_at", "last_payment_attempt", "joined_at", "renewal_period_start"]) {
    if (k in data && data[k]) data[k] = at;
  }
  return { ...e, timestamp: at, data } as T;
}

// ── The session's helpers ───────────────────────────────────────────────────

type Query = <T = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<T[]>;

/**
 * Creates, in this session (pg_temp, gone with the connection):
 *  - `referly_history_shift(company, ts)`: moves what this transaction wrote to `ts`, as
 *    described at the top, in the tables written since its last call (it keeps each table's
 *    inserts + updates of this transaction, pg_stat_get_xact_tuples_*, to skip the others).
 *    Written by this transaction: age(xmin) <= 0 (our id, or one of our subtransactions',
 *    which are newer). The statements are static, so their plans are cached.
 *  - `referly_history_click(…, at, key)`: record_click, the click moved to its time at once
 *    (the shift after a run of clicks finds anything else), its id kept under `key`.
 *  - `referly_history_vanity(company, user, code)`: the member's code becomes `code`, or
 *    code2, code3… if someone already has it.
 */
async function createHelpers(q: Query): Promise<void> {
  const tables = await q<{ oid: string; name: string; columns: string[]; has_company: boolean }>(
    `select c.oid::text as oid, c.relname as name,
            array_agg(a.attname::text order by a.attnum) filter (where a.atttypid = 'timestamptz'::regtype) as columns,
            bool_or(a.attname = 'company_id') as has_company
     from pg_catalog.pg_class c
     join pg_catalog.pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
     where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
     group by c.oid, c.relname
     having bool_or(a.atttypid = 'timestamptz'::regtype)
     order by c.relname`,
  );
  const writes = (oid: string) => `pg_stat_get_xact_tuples_inserted(${oid}) + pg_stat_get_xact_tuples_updated(${oid})`;
  const blocks = tables.map((t, i) => {
    const cols = t.columns.map(quoteIdent);
    const fresh = (c: string) => `${c} - date_trunc('second', ${c}) = v_frac`;
    return `
      if ${writes(t.oid)} <> v_seen[${i + 1}] then
        update public.${quoteIdent(t.name)} set
          ${cols.map((c) => `${c} = case when ${fresh(c)} then ${c} + v_off else ${c} end`).join(",\n          ")}
        where ${t.has_company ? "company_id = p_company and " : ""}age(xmin) <= 0
          and (${cols.map(fresh).join(" or ")});
        get diagnostics v_n = row_count;
        v_moved := v_moved + v_n;
      end if;`;
  });
  await q(`create temporary table referly_history_seen on commit drop as
           select array_fill(0::bigint, array[${tables.length}]) as seen`);
  await q(`create temporary table referly_history_keys (key text primary key, click_id uuid) on commit drop`);
  await q(`create or replace function pg_temp.referly_history_shift(p_company text, p_ts timestamptz)
    returns integer language plpgsql as $fn$
    declare
      v_off interval := p_ts - now();
      v_frac interval := now() - date_trunc('second', now());
      v_seen bigint[] := (select seen from pg_temp.referly_history_seen);
      v_moved integer := 0;
      v_n integer;
    begin
      ${blocks.join("\n")}
      update pg_temp.referly_history_seen set seen = array[${tables.map((t) => writes(t.oid)).join(", ")}];
      return v_moved;
    end $fn$`);
  await q(`create or replace function pg_temp.referly_history_click(p_company text, p_user text, p_visitor text,
      p_ua text, p_url text, p_country text, p_bot boolean, p_at timestamptz, p_key text)
    returns void language plpgsql as $fn$
    declare v jsonb;
    begin
      v := public.record_click((select code from public.referral_codes where company_id = p_company and user_id = p_user),
        p_visitor, p_ua, p_url, p_country, p_bot);
      update public.referral_clicks set created_at = p_at where id = (v->>'click_id')::uuid and created_at = now();
      if p_key is not null then insert into pg_temp.referly_history_keys values (p_key, (v->>'click_id')::uuid); end if;
    end $fn$`);
  await q(`create or replace function pg_temp.referly_history_vanity(p_company text, p_user text, p_code text)
    returns void language plpgsql as $fn$
    declare v text;
    begin
      for i in 1..10 loop
        v := case when i = 1 then p_code else p_code || i end;
        if not exists (select 1 from public.referral_codes where lower(code) = lower(v)) then
          perform public.set_referral_code(p_company, p_user, v);
          return;
        end if;
      end loop;
    end $fn$`);
}

const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`;

// ── Entry point ─────────────────────────────────────────────────────────────

/**
 * Seed the demo company's history unless it is there (payments `pay_hist_…`) or the demo
 * company is not (seed.sql runs first). The launcher runs it on every demo start.
 * Returns whether it seeded, and why not.
 */
export async function seedDemoHistory(databaseUrl: string): Promise<{ seeded: boolean; reason?: string }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    for (let attempt = 0; ; attempt++) {
      await client.query("begin");
      try {
        const outcome = await seedInTransaction(client);
        if (outcome === "retry") {
          await client.query("rollback");
          if (attempt < 5) continue;
          throw new Error("demo history: now() kept landing on a whole second");
        }
        await client.query(outcome.seeded ? "commit" : "rollback");
        return outcome;
      } catch (err) {
        await client.query("rollback").catch(() => {});
        throw err;
      }
    }
  } finally {
    await client.end();
  }
}

/** Statements per round trip (a simple-protocol script). */
const SCRIPT_CHUNK = 300;

async function seedInTransaction(client: pg.Client): Promise<{ seeded: boolean; reason?: string } | "retry"> {
  const q: Query = async (text, params) => (await client.query(text, params)).rows;
  // one seeder at a time (two launchers on one database)
  await q(`select pg_advisory_xact_lock(hashtextextended('referly:demo-history', 0))`);
  const [state] = await q<{ program: boolean; seeded: boolean; superuser: boolean; whole: boolean; anchor: string }>(
    `select exists (select 1 from public.programs where company_id = $1) as program,
            exists (select 1 from public.payments where company_id = $1 and payment_id like $2) as seeded,
            current_setting('is_superuser') = 'on' as superuser,
            now() = date_trunc('second', now()) as whole,
            extract(epoch from date_trunc('second', now()))::bigint::text as anchor`,
    [DEMO_COMPANY_ID, `${DEMO_HISTORY_PAYMENT_PREFIX.replace(/_/g, "\\_")}%`],
  );
  if (state.seeded) return { seeded: false, reason: "already seeded" };
  if (!state.program) return { seeded: false, reason: "no demo company (run supabase/seed.sql first)" };
  if (!state.superuser) return { seeded: false, reason: "dating the history needs a superuser connection" };
  if (state.whole) return "retry"; // now() needs a sub-second part to tell fresh values apart

  // Days are 24 hours (a shift and its inverse cancel exactly; holds are whole days).
  await q(`set local timezone = 'UTC'`);
  // No trigger fires while the history is written (see the top); global jobs turn them on.
  await q(`set local session_replication_role = replica`);
  await createHelpers(q);

  // The history as one script, in time order; after each event (or run of clicks) the shift.
  const anchor = Number(state.anchor);
  const iso = (t: number) => new Date((anchor - t) * 1000).toISOString();
  const plan = buildPlan();
  const script: string[] = [];
  plan.forEach((ev, i) => {
    const at = iso(ev.t);
    script.push(...ev.sql(at, iso));
    if (!ev.click || !plan[i + 1]?.click) script.push(`select pg_temp.referly_history_shift(${CO}, ${TS(at)})`);
  });
  for (let i = 0; i < script.length; i += SCRIPT_CHUNK) {
    const chunk = script.slice(i, i + SCRIPT_CHUNK);
    try {
      await client.query(chunk.join(";\n"));
    } catch (err) {
      // say which statement failed
      const pos = Number((err as { position?: string }).position);
      let offset = 0;
      const failed = chunk.find((s) => (offset += s.length + 2) >= pos);
      if (failed) (err as Error).message += `\nin the demo history statement: ${failed.slice(0, 2000)}`;
      throw err;
    }
  }

  // Today: the (global) jobs catch up at the real time, as the cron would, with triggers on;
  // the demo's rollups are rebuilt where the dates now are, and must reconcile.
  await q(`set local session_replication_role = origin`);
  await q(`select public.release_commissions()`);
  await q(`select public.expire_referrals()`);
  await q(`select public.rebuild_analytics($1)`, [DEMO_COMPANY_ID]);
  // the boards of the dates the referrals now have (they were counted on today's boards)
  await q(`select public.rebuild_leaderboards($1)`, [DEMO_COMPANY_ID]);
  // the finished weeks and months frozen, as the leaderboards job does (members' previous rank)
  await q(`select public.snapshot_leaderboards()`);
  const [check] = await q<{ v: { ok: boolean; differences: unknown[] } }>(`select public.check_analytics($1) as v`, [DEMO_COMPANY_ID]);
  if (!check.v.ok) throw new Error(`demo history: the rollups do not reconcile: ${JSON.stringify(check.v.differences)}`);
  return { seeded: true };
}
