import { describe, expect, it } from "vitest";
import { displayField } from "../../lib/referrals";

describe("displayField: a Whop username or name as Referly caches it", () => {
  it("drops NULs, keeps at most 200 characters, and passes null and undefined through", () => {
    expect(displayField("ma\u0000ya")).toBe("maya");
    expect(displayField("x".repeat(500))).toBe("x".repeat(200));
    expect(displayField("Chloé Dubois")).toBe("Chloé Dubois");
    expect(displayField(null)).toBeNull();
    expect(displayField(undefined)).toBeUndefined();
  });
});
