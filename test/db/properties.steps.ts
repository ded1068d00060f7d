/**
 * The step vocabulary of the money-lifecycle property test (properties.test.ts): the steps a
 * run applies (`Step`) and their fast-check arbitraries (`stepArb`), and the random program
 * settings of a run (`configArb`, `Config`).
 */
import fc from "fast-check";

// ── steps ───────────────────────────────────────────────────────────────────

/** Fraud signals a payment can carry (referly_signals): see `signals`. */
export type Sig = "disposable" | "card" | "email" | null;

export type Step =
  | { t: "pay"; payer: number; cents: number; taxBp: number | null; copies: number; sig: Sig }
  | { t: "newReferee"; referrer: number; cents: number; plan: string | null }
  | { t: "redeliver"; k: number }
  | { t: "samePayment"; k: number }
  | { t: "refund"; k: number; part: number | "full"; copies: number }
  | { t: "refundPending"; k: number; part: number | "full" }
  | { t: "refundUpdate"; k: number }
  | { t: "dispute"; k: number; part: number | "full"; copies: number }
  | { t: "release"; mask: number }
  | { t: "request"; m: number }
  | { t: "payoutFlow"; m: number; end: "complete" | "fail" | "failRetry" | "cancel" | "none" }
  | { t: "start"; k: number }
  | { t: "complete"; k: number; again: boolean }
  | { t: "fail"; k: number }
  | { t: "cancel"; k: number }
  | { t: "item"; cost: number }
  | { t: "redeem"; m: number; k: number }
  | { t: "grant"; m: number; delta: number }
  | {
      t: "refundRace";
      k: number;
      part: number | "full";
      /** requestFirst: T2, T1, T3; refundFirst: T1, T2, T3; held: T0, T1, T2, T3 */
      order: "requestFirst" | "refundFirst" | "held";
      m: number;
      start: boolean;
      complete: boolean;
    }
  | {
      t: "decide";
      k: number;
      decision: "approve" | "reject";
      bulk: boolean;
      /** first, one of the referral's beneficiaries asks for a payout (and the creator starts it) */
      before: "none" | "request" | "requestStart";
    }
  | { t: "trust"; m: number; on: boolean }
  | { t: "endCampaign" }
  /** (only at the end of a run with a campaign) every member with money asks for it, and it is paid */
  | { t: "payEveryone" }
  | {
      t: "decideRace";
      k: number;
      decision: "approve" | "reject";
      /** what runs at the same time as the decision, on the same referral's money */
      with: "request" | "refund" | "start" | "renewal";
      /** decideFirst: the decision's transaction is open while the other runs; otherFirst: the reverse */
      order: "decideFirst" | "otherFirst";
      m: number;
    };

// plain-prototype records, so counterexamples print cleanly
function rec<T>(shape: { [K in keyof T]: fc.Arbitrary<T[K]> }): fc.Arbitrary<T> {
  return fc.record(shape, { noNullPrototype: true }) as fc.Arbitrary<T>;
}
const sel = fc.nat({ max: 1000 });
const member = fc.integer({ min: 0, max: 3 }); // A, B, C, D
const earner = fc.integer({ min: 0, max: 6 }).map((i) => [0, 0, 1, 1, 2, 2, 3][i]); // D never earns: rarely picked
const part = fc.oneof(fc.integer({ min: 1, max: 10000 }), fc.constant("full" as const)); // basis points of what remains
const mostly = fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) });
const copies = fc.oneof(
  { weight: 5, arbitrary: fc.constant(1) },
  { weight: 1, arbitrary: fc.integer({ min: 2, max: 5 }) },
);

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    // a new member joins through A, B or C's code and pays (more conversions per referrer: streaks)
    weight: 3,
    arbitrary: rec({
      t: fc.constant("newReferee" as const),
      referrer: fc.integer({ min: 0, max: 2 }),
      cents: fc.integer({ min: 1, max: 50000 }),
      // the plan bought (referral_plan_stats, checked by check_analytics in invariant 7)
      plan: fc.constantFrom("plan_a", "plan_b", null),
    }),
  },
  {
    weight: 10,
    arbitrary: rec({
      t: fc.constant("pay" as const),
      // mostly B, C, D (referred); sometimes A (nobody above: no attribution)
      payer: fc.integer({ min: 0, max: 6 }).map((i) => [1, 1, 2, 2, 3, 3, 0][i]),
      cents: fc.oneof(fc.integer({ min: 1, max: 50000 }), fc.integer({ min: 1, max: 300 })),
      taxBp: fc.option(fc.integer({ min: 0, max: 10000 }), { nil: null, freq: 2 }),
      copies,
      sig: fc.constantFrom<Sig>(null, null, null, "disposable", "card", "email"),
    }),
  },
  {
    // a referred member's payment with fraud signals (on a first payment: a suspicious conversion)
    weight: 6,
    arbitrary: rec({
      t: fc.constant("pay" as const),
      payer: fc.integer({ min: 1, max: 3 }),
      cents: fc.integer({ min: 1, max: 50000 }),
      taxBp: fc.constant(null),
      copies: fc.constant(1),
      sig: fc.constantFrom<Sig>("disposable", "disposable", "card", "email"),
    }),
  },
  { weight: 2, arbitrary: rec({ t: fc.constant("redeliver" as const), k: sel }) },
  { weight: 1, arbitrary: rec({ t: fc.constant("samePayment" as const), k: sel }) },
  { weight: 3, arbitrary: rec({ t: fc.constant("refund" as const), k: sel, part, copies }) },
  { weight: 1, arbitrary: rec({ t: fc.constant("refundPending" as const), k: sel, part }) },
  { weight: 2, arbitrary: rec({ t: fc.constant("refundUpdate" as const), k: sel }) },
  { weight: 1, arbitrary: rec({ t: fc.constant("dispute" as const), k: sel, part, copies }) },
  { weight: 2, arbitrary: rec({ t: fc.constant("release" as const), mask: fc.nat({ max: 0xffff }) }) },
  { weight: 3, arbitrary: rec({ t: fc.constant("request" as const), m: earner }) },
  {
    weight: 3,
    arbitrary: rec({
      t: fc.constant("payoutFlow" as const),
      m: earner,
      end: fc.constantFrom(...(["complete", "complete", "fail", "failRetry", "cancel", "none"] as const)),
    }),
  },
  { weight: 3, arbitrary: rec({ t: fc.constant("start" as const), k: sel }) },
  { weight: 4, arbitrary: rec({ t: fc.constant("complete" as const), k: sel, again: fc.boolean() }) },
  { weight: 1, arbitrary: rec({ t: fc.constant("fail" as const), k: sel }) },
  { weight: 1, arbitrary: rec({ t: fc.constant("cancel" as const), k: sel }) },
  { weight: 1, arbitrary: rec({ t: fc.constant("item" as const), cost: fc.integer({ min: 1, max: 800 }) }) },
  { weight: 2, arbitrary: rec({ t: fc.constant("redeem" as const), m: member, k: sel }) },
  {
    weight: 1,
    arbitrary: rec({
      t: fc.constant("grant" as const),
      m: member,
      delta: fc.integer({ min: -400, max: 400 }).filter((d) => d !== 0),
    }),
  },
  {
    weight: 7,
    arbitrary: rec({
      t: fc.constant("refundRace" as const),
      k: sel,
      part,
      order: fc.constantFrom(...(["requestFirst", "refundFirst", "held", "held"] as const)),
      m: sel,
      start: mostly,
      complete: mostly,
    }),
  },
  {
    weight: 7,
    arbitrary: rec({
      t: fc.constant("decide" as const),
      k: sel,
      decision: fc.constantFrom("approve" as const, "reject" as const),
      bulk: fc.oneof({ weight: 3, arbitrary: fc.constant(false) }, { weight: 1, arbitrary: fc.constant(true) }),
      before: fc.constantFrom("none" as const, "none" as const, "request" as const, "requestStart" as const),
    }),
  },
  { weight: 1, arbitrary: rec({ t: fc.constant("trust" as const), m: member, on: mostly }) },
  { weight: 2, arbitrary: rec({ t: fc.constant("endCampaign" as const) }) },
  {
    weight: 7,
    arbitrary: rec({
      t: fc.constant("decideRace" as const),
      k: sel,
      decision: fc.constantFrom("approve" as const, "reject" as const),
      with: fc.constantFrom("request" as const, "request" as const, "refund" as const, "start" as const, "renewal" as const),
      order: fc.constantFrom("decideFirst" as const, "otherFirst" as const),
      m: sel,
    }),
  },
);

export const configArb = rec({
  rate: fc.oneof(fc.integer({ min: 0, max: 10000 }), fc.constantFrom(2000, 2500, 3333)),
  upper: fc.tuple(
    ...[0, 1, 2, 3].map(() => fc.oneof(fc.integer({ min: 0, max: 10000 }), fc.integer({ min: 1, max: 700 }))),
  ),
  maxLevel: fc.constantFrom(2, 3),
  holdDays: fc.oneof(
    { weight: 2, arbitrary: fc.constant(0) },
    { weight: 1, arbitrary: fc.integer({ min: 1, max: 30 }) },
  ),
  minPayout: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 3000 })),
  fraudMode: fc.constantFrom("hold" as const, "hold" as const, "hold" as const, "flag" as const, "off" as const),
  holdScore: fc.oneof(fc.constant(50), fc.constant(20), fc.integer({ min: 1, max: 100 })),
  disposableWeight: fc.oneof(fc.constant(20), fc.integer({ min: 0, max: 100 })),
  campaign: fc.option(
    rec({
      bonusBp: fc.oneof(fc.integer({ min: 0, max: 3000 }), fc.constant(10000)),
      bonusPoints: fc.integer({ min: 0, max: 200 }),
      prizeCents: fc.integer({ min: 1, max: 5000 }),
      reach: fc.integer({ min: 1, max: 3 }),
    }),
    { nil: null },
  ),
  // streaks, tiers and drops (supabase/schemas/60_gamification.sql): each on or off
  gamification: rec({
    streaks: fc.boolean(),
    stepPct: fc.integer({ min: 0, max: 100 }),
    capPct: fc.integer({ min: 0, max: 100 }),
    tiers: fc.boolean(),
    // Silver's threshold and bonus (Bronze 0 at 0 %)
    silverAt: fc.integer({ min: 1, max: 3 }),
    silverPct: fc.oneof(fc.constant(5), fc.integer({ min: 0, max: 10000 }).map((bp) => bp / 100)),
    dropPct: fc.constantFrom(0, 50, 100),
  }),
});
export type Config = typeof configArb extends fc.Arbitrary<infer T> ? T : never;
