/**
 * Notifications through Whop (supabase/schemas/70_notifications.sql, lib/notifications) over HTTP
 * against the built app: a signed payment.succeeded webhook queues "commission earned" in its
 * transaction and the app sends it right after, through the real @whop/sdk
 * `notifications.create` to the Whop stand-in — to the member only, in the company's Referly
 * experience, with a deep link; a Whop failure leaves the webhook answering 200 and the row
 * waiting, and the `notifications` job sends it once Whop answers; nothing is sent twice.
 * The member's mute on Home stops them. Set-up and assertions go through the API's Postgres;
 * nothing is mocked.
 */
import { afterEach, describe, expect, inject, it } from "vitest";
import {
  apiCodeFor,
  apiProgram,
  apiReferredPayment,
  apiOne as one,
  apiRows as rows,
  apiSettings as settings,
  deliver,
  ids,
  page,
  paymentEvent,
  testId,
  uid,
  userToken,
  whopCompany,
  whopRequests,
  whopState,
  type Ids,
} from "../helpers";

const CRON_SECRET = "cron_test_secret";
const cron = async (job: string) =>
  (await fetch(`${inject("apiUrl")}/api/cron/${job}`, { headers: { authorization: `Bearer ${CRON_SECRET}` } })).json();

afterEach(async () => {
  await whopState({ fail: { "POST /notifications": null } as any });
});

/** A company whose referrer has opened the member app (so its experience is known): apiProgram. */
const setup = () => apiProgram({ openApp: true });
/** A new member pays `total` dollars through the referrer's code (apiReferredPayment). */
const referredPayment = async (c: Ids & { code: string }, total = 49.99) => {
  await apiReferredPayment(c, { total });
};
const sentTo = async (experience: string) =>
  (await whopRequests()).filter((r: any) => r.method === "POST" && r.path === "/notifications" && r.body.experience_id === experience);

describe("notifications through Whop", () => {
  it("a commission earned is sent once, right after the webhook, to the member in the app's experience with a deep link", async () => {
    const c = await setup();
    await referredPayment(c);
    const sent = await sentTo(c.experience);
    expect(sent.map((r: any) => r.body)).toEqual([
      {
        experience_id: c.experience,
        user_ids: [c.referrer],
        title: "You earned $10.00",
        content: "A payment from someone you referred earned you $10.00 in commission.",
        rest_path: "/earnings",
      },
    ]);
    const [n] = await rows(`select status, attempts, sent_at is not null as sent from public.notifications where company_id = $1`, [c.company]);
    expect(n).toEqual({ status: "sent", attempts: 1, sent: true });
    // the job finds nothing left to send for it
    await cron("notifications");
    expect((await sentTo(c.experience)).length).toBe(1);
  });

  it("Whop failing: the webhook still answers 200, the row waits; the job sends it after the backoff, once", async () => {
    const c = await setup();
    await whopState({ fail: { "POST /notifications": { status: 500, message: "down" } } });
    await referredPayment(c);
    const [waiting] = await rows(`select status, attempts, error_message from public.notifications where company_id = $1`, [c.company]);
    expect([waiting.status, waiting.attempts]).toEqual(["pending", 1]);
    await whopState({ fail: { "POST /notifications": null } as any });
    // not due before its backoff
    await cron("notifications");
    expect(await one(`select attempts from public.notifications where company_id = $1`, [c.company])).toEqual({ attempts: 1 });
    await rows(`update public.notifications set next_attempt_at = now() where company_id = $1`, [c.company]);
    await cron("notifications");
    await cron("notifications");
    expect(await one(`select status, attempts from public.notifications where company_id = $1`, [c.company])).toEqual({ status: "sent", attempts: 2 });
    expect((await sentTo(c.experience)).filter((r: any) => r.body.title === "You earned $10.00").length).toBe(2); // the refused one and the sent one
  });

  it("a member who muted notifications on their Home gets none", async () => {
    const c = await setup();
    const token = await userToken(c.referrer);
    const home = await page(`/experiences/${c.experience}`, token);
    expect(testId(home.html, "notifications")).toContain("You get a Whop notification");
    await one(`select public.set_notifications_muted($1, $2, true)`, [c.company, c.referrer]);
    expect(testId((await page(`/experiences/${c.experience}`, token)).html, "notifications")).toContain("Notifications are muted.");
    await referredPayment(c);
    expect(await sentTo(c.experience)).toEqual([]);
    expect(await rows(`select 1 from public.notifications where company_id = $1`, [c.company])).toEqual([]);
  });
});
