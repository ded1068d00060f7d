import { Text } from "@whop/react/components";
import { PRIZE_PLACES, type Catalog, type CampaignFormValues } from "@/lib/campaigns";

/** The prize choices of the form, with what the value field means for each. */
const PRIZE_TYPES = [
  ["", "no prize"],
  ["commission", "money (amount)"],
  ["points", "points"],
  ["discount", "promo code (% off)"],
  ["product_unlock", "free access (pick a plan)"],
  ["custom", "custom (describe it)"],
] as const;

/** The id of the datalist of the company's plans (free-access prizes and milestones pick from it). */
export const PLANS_LIST = "company-plans";

/** The company's plans as suggestions for a value field ("plan_… — Monthly (Membership)"). */
export function PlanOptions({ catalog }: { catalog: Catalog | null }) {
  return (
    <datalist id={PLANS_LIST}>
      {(catalog?.plans ?? []).map((p) => (
        <option key={p.id} value={p.id}>{p.product && p.product !== p.title ? `${p.title} (${p.product})` : p.title}</option>
      ))}
    </datalist>
  );
}

function PrizeFields({ prefix, label, type, value }: { prefix: string; label: string; type?: string; value?: string }) {
  return (
    <>
      <select className="select" name={`${prefix}_type`} aria-label={`${label} prize`} defaultValue={type ?? ""}>
        {PRIZE_TYPES.map(([v, t]) => <option key={v} value={v}>{t}</option>)}
      </select>
      <input
        className="select"
        name={`${prefix}_value`}
        defaultValue={value ?? ""}
        list={PLANS_LIST}
        placeholder="amount, points, % off, plan or text"
        aria-label={`${label} prize value`}
      />
    </>
  );
}

/**
 * The campaign form's fields (new campaign, and editing a draft): name, dates, description,
 * bonus rate and points, eligible products, prizes for places 1…PRIZE_PLACES and everyone
 * reaching a count. `running`: only what a running campaign may change (name, description,
 * end date). Names match what the campaigns actions read.
 */
export function CampaignFields({
  values,
  catalog,
  currency,
  running = false,
}: {
  values?: CampaignFormValues;
  catalog: Catalog | null;
  currency: string;
  running?: boolean;
}) {
  const v = values;
  const checked = new Set(v?.product_ids ?? []);
  return (
    <>
      <div className="filters">
        <input className="select" name="name" placeholder="Name" aria-label="Campaign name" defaultValue={v?.name} />
        {!running && (
          <label>
            Starts <input className="select" type="date" name="start_date" aria-label="Start date" defaultValue={v?.start_date} />
          </label>
        )}
        <label>
          Ends <input className="select" type="date" name="end_date" aria-label="End date" defaultValue={v?.end_date} />
        </label>
      </div>
      <textarea className="select" name="description" placeholder="What members should know" aria-label="Description" rows={2} defaultValue={v?.description} />
      {!running && (
        <>
          <div className="filters">
            <input className="select" name="bonus_rate" placeholder="Bonus rate, % (e.g. 5)" aria-label="Bonus rate percent" defaultValue={v?.bonus_rate} />
            <input className="select" name="bonus_points" placeholder="Bonus points per referral" aria-label="Bonus points" defaultValue={v?.bonus_points} />
          </div>
          {(catalog === null || catalog.products.length > 0) && (
            <fieldset className="filters fieldset">
              <legend>Eligible products (none checked = all)</legend>
              {catalog === null ? (
                <Text size="2" className="muted">Whop&apos;s product list couldn&apos;t be read just now: try again to pick products.</Text>
              ) : (
                <>
                  {/* tells the edit action the checkboxes were offered (none checked = all products) */}
                  <input type="hidden" name="products_shown" value="1" />
                  {catalog.products.map((p) => (
                    <label key={p.id}>
                      <input type="checkbox" name="product_ids" value={p.id} defaultChecked={checked.has(p.id)} /> {p.title}
                    </label>
                  ))}
                </>
              )}
            </fieldset>
          )}
          <fieldset className="stack fieldset">
            <legend>
              Prizes for the top referrers (by referrals in the campaign; ties go to who got there first). Money is in {currency};
              free access is one of your plans.
            </legend>
            {Array.from({ length: PRIZE_PLACES }, (_, i) => (
              <div className="filters" key={i}>
                <Text size="2">Place {i + 1}</Text>
                <PrizeFields prefix={`prize_${i + 1}`} label={`Place ${i + 1}`} type={v?.prizes?.[i]?.type} value={v?.prizes?.[i]?.value} />
              </div>
            ))}
            <div className="filters">
              <Text size="2">Everyone reaching</Text>
              <input className="select" name="reach_count" placeholder="referrals" aria-label="Everyone reaching, referrals" size={8} defaultValue={v?.reach_count} />
              <PrizeFields prefix="reach" label="Everyone reaching" type={v?.reach_type} value={v?.reach_value} />
            </div>
          </fieldset>
          <PlanOptions catalog={catalog} />
        </>
      )}
    </>
  );
}
