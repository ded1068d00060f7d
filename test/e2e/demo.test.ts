/**
 * The whole loop in a real browser (Debian's chromium driven by playwright-core) against
 * the app in demo mode: pick an identity, copy the referral link, follow it, simulate a
 * purchase (a signed webhook to the app's own endpoint), see the conversion and the
 * pending earnings; the "who invited you?" form; the creator's settings form.
 */
import { mkdirSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { inject } from "vitest";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
let browser: Browser;
const base = inject("demoUrl");

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--no-first-run", "--disable-sync"],
  });
  mkdirSync("test-results", { recursive: true });
});
afterAll(async () => {
  await browser?.close();
});

async function newPage(): Promise<Page> {
  // headless Chromium announces itself as HeadlessChrome, which isbot rightly calls a bot
  // (such clicks are stored but not counted); browse as a person's Chrome would
  const context = await browser.newContext({
    viewport: { width: 1100, height: 1200 },
    userAgent: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
  });
  await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: base });
  const page = await context.newPage();
  // fail a step with its own message well before the test's timeout
  page.setDefaultTimeout(8000);
  return page;
}

const text = async (page: Page, testId: string) => (await page.getByTestId(testId).first().textContent())?.trim();

describe("demo mode in the browser", () => {
  it("member copies the link, a purchase through it converts, and the pending commission shows", async () => {
    const page = await newPage();
    await page.goto(base);
    await page.getByText("Demo mode", { exact: true }).waitFor();
    await page.getByRole("button", { name: "View as member Alex" }).click();
    await page.waitForURL("**/experiences/exp_referlydemo");

    expect(await text(page, "referral-code")).toBe("ALEX");
    expect(await text(page, "funnel-conversions")).toBe("0");
    expect(await text(page, "earnings-pending")).toBe("$0.00");

    await page.getByRole("button", { name: "Copy link" }).click();
    await page.getByRole("button", { name: "Copied!" }).waitFor();
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    expect(copied).toBe(`${base}/r/ALEX`);
    expect(await text(page, "referral-link")).toBe(copied);

    // follow the link: click recorded, redirected to the (demo) Whop checkout
    await page.goto(copied);
    await page.waitForURL("**/demo/checkout/ch_*");
    expect(await text(page, "checkout-code")).toBe("ALEX");
    await page.getByRole("textbox").fill("Jamie Buyer");
    await page.getByRole("button", { name: /Simulate purchase/ }).click();
    await page.getByText("Jamie Buyer paid $49.99").waitFor();

    await page.getByRole("link", { name: /Back to the referral dashboard/ }).click();
    await page.waitForURL("**/experiences/exp_referlydemo");
    expect(await text(page, "funnel-clicks")).toBe("1");
    expect(await text(page, "funnel-signups")).toBe("1");
    expect(await text(page, "funnel-conversions")).toBe("1");
    // 20% of $49.99 = 999.8 cents → $10.00
    expect(await text(page, "earnings-pending")).toBe("$10.00");
    expect(await text(page, "earnings-total")).toBe("$10.00");
    expect(await text(page, "earnings-paid")).toBe("$0.00");
    const row = page.getByRole("row").filter({ hasText: "jamiebuyer" });
    await expect(row.getByText("converted").count()).resolves.toBe(1);
    await page.screenshot({ path: "test-results/member-view.png", fullPage: true });
  });

  it("'who invited you?' refuses the member's own code and records a real referrer", async () => {
    const page = await newPage();
    await page.goto(base);
    await page.getByRole("button", { name: "View as member Sam" }).click();
    await page.waitForURL("**/experiences/exp_referlydemo");
    const form = page.getByRole("form", { name: "Who invited you?" });

    await form.getByRole("textbox").fill("sam");
    await form.getByRole("button", { name: "Save" }).click();
    await form.getByRole("alert").filter({ hasText: "You can't use your own referral code" }).waitFor();

    await form.getByRole("textbox").fill("NOSUCHCODE");
    await form.getByRole("button", { name: "Save" }).click();
    await form.getByRole("alert").filter({ hasText: 'No referral code "NOSUCHCODE" in this community' }).waitFor();

    await form.getByRole("textbox").fill("alex");
    await form.getByRole("button", { name: "Save" }).click();
    await page.getByTestId("referred-by").waitFor();
    expect(await text(page, "referred-by")).toBe("You were invited by alex.");
  });

  it("creator sees the totals, gets a visible error for a bad rate, and saves settings", async () => {
    const page = await newPage();
    await page.goto(base);
    await page.getByRole("button", { name: "View as creator" }).click();
    await page.waitForURL("**/dashboard/biz_referlydemo");
    // seeded Jordan ($49.99 via Sam) + Jamie ($49.99 via Alex) from the first test
    expect(await text(page, "total-conversions")).toBe("2");
    expect(await text(page, "total-revenue")).toBe("$99.98");
    expect(await text(page, "total-owed")).toBe("$20.00");

    const form = page.getByRole("form", { name: "Program settings" });
    const percent = form.locator('input[name="commission_percent"]');
    expect(await percent.inputValue()).toBe("20");
    await percent.fill("150");
    await form.getByRole("button", { name: "Save settings" }).click();
    await form.getByText("Commission must be a percent from 0 to 100, at most 2 decimals").waitFor();

    await percent.fill("12.5");
    await form.locator('input[name="hold_days"]').fill("7");
    await form.getByRole("button", { name: "Save settings" }).click();
    await form.getByText("Settings saved.").waitFor();
    await page.reload();
    expect(await form.locator('input[name="commission_percent"]').inputValue()).toBe("12.5");
    expect(await form.locator('input[name="hold_days"]').inputValue()).toBe("7");
    await page.screenshot({ path: "test-results/dashboard.png", fullPage: true });
  });

  it("a member requests a payout, the creator pays it through Whop, and the member sees it paid", async () => {
    const sam = await newPage();
    await sam.goto(base);
    await sam.getByRole("button", { name: "View as member Sam" }).click();
    await sam.waitForURL("**/experiences/exp_referlydemo");
    // Jordan's seeded $49.99 payment is past its hold: $10.00 available
    expect(await text(sam, "balance-available")).toBe("$10.00");
    expect(await text(sam, "balance-paid")).toBe("$0.00");
    await sam.getByRole("button", { name: "Request payout of $10.00" }).click();
    await sam.getByText("Payout requested. The creator will review it.").waitFor();
    await sam.reload();
    expect(await text(sam, "payout-reason")).toBe("You have a payout in progress");

    const casey = await newPage();
    await casey.goto(base);
    await casey.getByRole("button", { name: "View as creator" }).click();
    await casey.waitForURL("**/dashboard/biz_referlydemo");
    const queue = casey.getByRole("table", { name: "Payouts" });
    const row = queue.getByRole("row").filter({ hasText: "sam" });
    expect(await row.textContent()).toContain("$10.00");
    await row.getByRole("button", { name: "Approve & pay" }).click();
    // the row re-renders from the database: paid, with no buttons left
    await queue.getByRole("row").filter({ hasText: "sam" }).getByText("completed").waitFor();
    expect(await queue.getByRole("row").filter({ hasText: "sam" }).getByRole("button").count()).toBe(0);

    await sam.reload();
    expect(await text(sam, "balance-paid")).toBe("$10.00");
    expect(await text(sam, "balance-available")).toBe("$0.00");
    expect(await text(sam, "payout-reason")).toBe("Below the minimum payout of $10.00");
  });

  it("a member redeems points for a reward and gets a promo code", async () => {
    const page = await newPage();
    await page.goto(base);
    await page.getByRole("button", { name: "View as member Sam" }).click();
    await page.waitForURL("**/experiences/exp_referlydemo");
    // 500 points for Jordan's first payment
    expect(await text(page, "points-balance")).toBe("500");
    await page.getByRole("form", { name: "Redeem One month free" }).getByRole("button", { name: "Redeem" }).click();
    await page.getByText(/Redeemed! Your code: RF[0-9A-F]{10}/).waitFor();
    await page.reload();
    expect(await text(page, "points-balance")).toBe("0");
    await expect(page.getByRole("form", { name: "Redeem Shout-out in the community" }).getByRole("button", { name: "Redeem" }).isDisabled()).resolves.toBe(true);
    await page.screenshot({ path: "test-results/member-wallet.png", fullPage: true });
  });

  it("the creator grants points, the member redeems a custom reward, the creator fulfils it", async () => {
    const casey = await newPage();
    await casey.goto(base);
    await casey.getByRole("button", { name: "View as creator" }).click();
    await casey.waitForURL("**/dashboard/biz_referlydemo");
    const grant = casey.getByRole("form", { name: "Grant points" });
    await grant.getByLabel("Member").fill("sam");
    await grant.getByLabel("Points").fill("lots");
    await grant.getByLabel("Reason").fill("Great feedback");
    await grant.getByRole("button", { name: "Grant" }).click();
    await grant.getByRole("alert").filter({ hasText: "Points are a whole number, negative to deduct" }).waitFor();
    await grant.getByLabel("Points").fill("200");
    await grant.getByRole("button", { name: "Grant" }).click();
    await grant.getByText("Done. sam now has 200 points.").waitFor().catch(async (e) => {
      throw new Error(`${e}\n form says: ${await grant.textContent()}`);
    });

    const sam = await newPage();
    await sam.goto(base);
    await sam.getByRole("button", { name: "View as member Sam" }).click();
    await sam.waitForURL("**/experiences/exp_referlydemo");
    expect(await text(sam, "points-balance")).toBe("200");
    await sam.getByRole("form", { name: "Redeem Shout-out in the community" }).getByRole("button", { name: "Redeem" }).click();
    await sam.getByText("Redeemed! The creator will get in touch.").waitFor();

    await casey.reload();
    const fulfil = casey.getByRole("form", { name: "Fulfil Shout-out in the community for sam" });
    await fulfil.getByRole("button", { name: "Mark fulfilled" }).click();
    await expect.poll(() => fulfil.count()).toBe(0);
    await sam.reload();
    expect(await text(sam, "points-balance")).toBe("0");
    await sam.getByText(/Shout-out in the community — granted/).waitFor();
  });

  it("a member picks a vanity code; a taken one is refused", async () => {
    const page = await newPage();
    await page.goto(base);
    await page.getByRole("button", { name: "View as creator" }).click();
    await page.waitForURL("**/dashboard/**");
    await page.goto(`${base}/experiences/exp_referlydemo`);
    const form = page.getByRole("form", { name: "Change your code" });
    await form.getByLabel("New code").fill("sam");
    await form.getByRole("button", { name: "Change code" }).click();
    await form.getByRole("alert").filter({ hasText: "The code sam is taken" }).waitFor();
    await form.getByLabel("New code").fill("no spaces");
    await form.getByRole("button", { name: "Change code" }).click();
    await form.getByRole("alert").filter({ hasText: "A code is 3 to 32 letters, digits, - or _" }).waitFor();
    await form.getByLabel("New code").fill("CASEY-VIP");
    await form.getByRole("button", { name: "Change code" }).click();
    await form.getByText("Your code is now CASEY-VIP.").waitFor();
    expect(await text(page, "referral-link")).toBe(`${base}/r/CASEY-VIP`);
    const res = await page.request.get(`${base}/r/casey-vip`, { maxRedirects: 0 });
    expect(res.status()).toBe(302);
  });

  it("a member cannot open the creator dashboard", async () => {
    const page = await newPage();
    await page.goto(base);
    await page.getByRole("button", { name: "View as member Alex" }).click();
    await page.waitForURL("**/experiences/**");
    const res = await page.goto(`${base}/dashboard/biz_referlydemo`);
    expect(res?.status()).toBe(403);
    await page.getByText("You don't have access to this page").waitFor();
  });
});
