/**
 * Hardening of the public surface, over real HTTP against the running app:
 * security headers on every kind of response, and the webhook endpoint refusing bodies
 * over 256 KB with 413 before reading them (nothing written).
 */
import { request } from "node:http";
import { describe, expect, inject, it } from "vitest";
import { apiOne as one, ids, paymentEvent, signedHeaders } from "../helpers";

const SECURITY_HEADERS = {
  "content-security-policy": "frame-ancestors https://whop.com https://*.whop.com",
  "x-content-type-options": "nosniff",
  "referrer-policy": "strict-origin-when-cross-origin",
};

describe("security headers", () => {
  it("every page, route and error answer carries them", async () => {
    const base = inject("apiUrl");
    const answers = [
      await fetch(`${base}/`, { redirect: "manual" }),
      await fetch(`${base}/dashboard/biz_nobody`, { redirect: "manual" }), // 401 without a token
      await fetch(`${base}/experiences/exp_nobody`, { redirect: "manual" }),
      await fetch(`${base}/r/NO-SUCH-CODE`, { redirect: "manual" }), // the friendly 404 page
      await fetch(`${base}/api/webhooks/whop`, { method: "POST", body: "{}" }), // 401 unsigned
      await fetch(`${base}/api/cron/release`, { redirect: "manual" }), // 401 without the secret
    ];
    for (const res of answers) {
      const got = Object.fromEntries(Object.keys(SECURITY_HEADERS).map((k) => [k, res.headers.get(k)]));
      expect(got, `${res.url} (${res.status})`).toEqual(SECURITY_HEADERS);
    }
    expect(answers.map((r) => r.status)).toEqual([200, 401, 401, 404, 401, 401]);
  });
});

describe("webhook body limit", () => {
  /** POST raw bytes; chunked (no Content-Length) when `chunked`. */
  function post(body: Buffer, headers: Record<string, string>, chunked: boolean): Promise<{ status: number; text: string }> {
    const url = new URL(`${inject("apiUrl")}/api/webhooks/whop`);
    return new Promise((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: url.pathname, method: "POST", headers: chunked ? headers : { ...headers, "content-length": String(body.length) } },
        (res) => {
          let text = "";
          res.on("data", (d) => (text += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on("error", reject);
      if (chunked) {
        // several chunks, so the server has to stop reading part way
        for (let i = 0; i < body.length; i += 64 * 1024) req.write(body.subarray(i, i + 64 * 1024));
      } else req.write(body);
      req.end();
    });
  }

  /** A validly signed payment event padded past `bytes` with metadata. */
  function bigEvent(bytes: number) {
    const c = ids();
    const event = paymentEvent(c, { metadata: { padding: "x".repeat(bytes) } });
    const body = JSON.stringify(event);
    return { event, body: Buffer.from(body), headers: signedHeaders(body, { id: event.id }) };
  }

  for (const chunked of [false, true]) {
    it(`a signed event over 256 KB is refused with 413 and nothing is recorded (${chunked ? "chunked" : "Content-Length"})`, async () => {
      const { event, body, headers } = bigEvent(300 * 1024);
      const res = await post(body, headers, chunked);
      expect(res.status).toBe(413);
      expect(JSON.parse(res.text)).toEqual({ ok: false, error: "body over 256 KB" });
      expect(await one(`select count(*)::int as n from public.webhook_events where event_id = $1`, [event.id])).toEqual({ n: 0 });
    });
  }

  it("a signed event just under the limit is applied", async () => {
    const { event, body, headers } = bigEvent(200 * 1024);
    const res = await post(body, headers, true);
    expect(res.status).toBe(200);
    expect(JSON.parse(res.text)).toMatchObject({ ok: true, duplicate: false });
    expect(await one(`select count(*)::int as n from public.webhook_events where event_id = $1`, [event.id])).toEqual({ n: 1 });
  });
});
