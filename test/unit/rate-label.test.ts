/** How a commission's rate reads in the tables (lib/commissions rateLabel): its bonuses and streak said. */
import { describe, expect, it } from "vitest";
import { rateLabel } from "../../lib/commissions";

const row = (o: Partial<Parameters<typeof rateLabel>[0]>) =>
  rateLabel({ kind: "commission", rate_bp: 2000, campaign_bonus_bp: 0, tier_bonus_bp: 0, streak_multiplier: 1, ...o });

describe("rateLabel", () => {
  it("says the rate, the campaign's and the tier's part of it, and the streak's multiplier", () => {
    expect(row({})).toBe("20%");
    expect(row({ rate_bp: 2500, campaign_bonus_bp: 500 })).toBe("25% (+5% campaign)");
    expect(row({ rate_bp: 2750, campaign_bonus_bp: 500, tier_bonus_bp: 250 })).toBe("27.5% (+5% campaign, +2.5% tier)");
    expect(row({ rate_bp: 2200, tier_bonus_bp: 200, streak_multiplier: 1.2 })).toBe("22% (+2% tier) ×1.20 streak");
  });
  it("a flat commission is its bonuses on top of the flat amount; a prize is a prize", () => {
    expect(row({ rate_bp: 0 })).toBe("flat");
    expect(row({ rate_bp: 700, campaign_bonus_bp: 500, tier_bonus_bp: 200 })).toBe("flat + 5% campaign + 2% tier");
    expect(row({ rate_bp: 0, streak_multiplier: 1.1 })).toBe("flat ×1.10 streak");
    expect(row({ kind: "bonus" })).toBe("prize");
  });
});
