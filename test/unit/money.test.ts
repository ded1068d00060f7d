import { describe, expect, it } from "vitest";
import { basisPointsToPercent, centsToDecimal, decimalToCents, formatMoney, percentToBasisPoints } from "../../lib/money";

describe("money display and input (no floating point)", () => {
  it("formats integer cents exactly in the currency", () => {
    expect(formatMoney(999, "USD")).toBe("$9.99");
    expect(formatMoney(100000001, "USD")).toBe("$1,000,000.01");
    expect(formatMoney(-250, "USD")).toBe("-$2.50");
    expect(formatMoney(1500, "JPY")).toBe("¥1,500");
    expect(centsToDecimal(5, "USD")).toBe("0.05");
    expect(centsToDecimal(1234, "KWD")).toBe("1.234");
  });

  it("parses typed amounts into cents, refusing junk", () => {
    expect(decimalToCents("10", "USD")).toBe(1000);
    expect(decimalToCents("25.5", "USD")).toBe(2550);
    expect(decimalToCents("0.07", "USD")).toBe(7);
    expect(decimalToCents("1.005", "USD")).toBeNull();
    expect(decimalToCents("-1", "USD")).toBeNull();
    expect(decimalToCents("1e3", "USD")).toBeNull();
    expect(decimalToCents("12.5", "JPY")).toBeNull();
  });

  it("turns percent text into basis points and back", () => {
    expect(percentToBasisPoints("20")).toBe(2000);
    expect(percentToBasisPoints("12.5")).toBe(1250);
    expect(percentToBasisPoints("0.01")).toBe(1);
    expect(percentToBasisPoints("100")).toBe(10000);
    expect(percentToBasisPoints("100.01")).toBeNull();
    expect(percentToBasisPoints("12.345")).toBeNull();
    expect(percentToBasisPoints("abc")).toBeNull();
    expect(basisPointsToPercent(2000)).toBe("20");
    expect(basisPointsToPercent(1250)).toBe("12.5");
    expect(basisPointsToPercent(1)).toBe("0.01");
  });
});
