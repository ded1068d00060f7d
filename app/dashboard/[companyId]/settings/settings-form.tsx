"use client";

import { Button, Checkbox, Heading, Text, TextField } from "@whop/react/components";
import { useActionForm } from "@/app/_components/action-form";
import type { SettingsState } from "../action-state";
import { saveSettingsAction } from "./actions";

export type Field = {
  name: string;
  label: string;
  hint?: string;
  options?: string[];
  /** what each option says, when not its value */
  optionLabels?: Record<string, string>;
  checkbox?: boolean;
};

export type Section = { title: string; intro?: string; fields: Field[] };

const SECTIONS: Section[] = [
  {
    title: "Commissions",
    fields: [
      { name: "commission_percent", label: "Commission (%)", hint: "Level 1, of each payment before tax" },
      { name: "commission_type", label: "Commission type", options: ["percentage", "flat"], hint: "Flat pays once per conversion" },
      { name: "flat_amount", label: "Flat amount", hint: "Per conversion, when the type is flat" },
      { name: "hold_days", label: "Hold period (days)", hint: "Before a commission can be paid out" },
      { name: "recurring_months", label: "Recurring months", hint: "Renewals earn this long; 0 = first payment only" },
      { name: "product_rates", label: "Product rates", hint: "prod_XXX=15, prod_YYY=12.5" },
    ],
  },
  {
    title: "Levels",
    fields: [
      { name: "mlm_enabled", label: "Pay upper levels", checkbox: true },
      { name: "max_level", label: "Levels (1–5)" },
      { name: "level2_percent", label: "Level 2 (%)" },
      { name: "level3_percent", label: "Level 3 (%)" },
      { name: "level4_percent", label: "Level 4 (%)" },
      { name: "level5_percent", label: "Level 5 (%)" },
      { name: "level2_months", label: "Level 2+ months", hint: "Upper levels earn this long" },
    ],
  },
  {
    title: "Payouts",
    fields: [
      { name: "min_payout", label: "Minimum payout", hint: "In the program currency" },
      { name: "payout_mode", label: "Payout mode", options: ["manual", "automatic"], hint: "Automatic pays at request time" },
      { name: "payout_frequency", label: "Batch frequency", options: ["daily", "weekly", "monthly"] },
    ],
  },
  {
    title: "Links",
    fields: [
      { name: "plan_id", label: "Whop plan id", hint: "Referral links open a checkout for it" },
      { name: "landing_url", label: "Landing URL", hint: "Used when no plan is set" },
    ],
  },
  {
    title: "Points",
    fields: [
      { name: "points_welcome", label: "Welcome (new member)" },
      { name: "points_first_payment", label: "First payment (referrer)" },
      { name: "points_recurring", label: "Each renewal (referrer)" },
      { name: "points_l2", label: "Level 2 payment" },
      { name: "points_recurring_months", label: "Recurring points months" },
      { name: "points_expiry_days", label: "Points expire after (days)", hint: "Empty = never" },
    ],
  },
];

/**
 * Every program setting in one form. `more` adds groups whose words come from the server
 * (the fraud checks' names and help live in lib/fraud).
 */
export function SettingsForm({ companyId, values, more = [] }: { companyId: string; values: Record<string, string>; more?: Section[] }) {
  const { state, pending, formProps } = useActionForm<SettingsState>(saveSettingsAction.bind(null, companyId), {
    ok: false,
    message: null,
    errors: {},
  });
  return (
    <form {...formProps} className="stack" aria-label="Program settings">
      {[...SECTIONS, ...more].map((section) => (
        <fieldset key={section.title} id={section.title.toLowerCase().replace(/\W+/g, "-")} className="stack fieldset" aria-label={section.title}>
          <Heading size="3" as="h3">
            {section.title}
          </Heading>
          {section.intro && (
            <Text size="2" className="muted">
              {section.intro}
            </Text>
          )}
          <div className="grid">
            {section.fields.map((f) => (
              <label key={f.name} className="field">
                <Text size="2" weight="bold">
                  {f.label}
                </Text>
                {f.checkbox ? (
                  <Checkbox name={f.name} defaultChecked={values[f.name] === "on"} value="on" />
                ) : f.options ? (
                  <select name={f.name} defaultValue={values[f.name]} className="select" aria-invalid={!!state.errors[f.name]}>
                    {f.options.map((o) => (
                      <option key={o} value={o}>
                        {f.optionLabels?.[o] ?? o}
                      </option>
                    ))}
                  </select>
                ) : (
                  <TextField.Root>
                    <TextField.Input name={f.name} defaultValue={values[f.name]} aria-invalid={!!state.errors[f.name]} />
                  </TextField.Root>
                )}
                {state.errors[f.name] ? (
                  <span className="field-error" role="alert">
                    {state.errors[f.name]}
                  </span>
                ) : (
                  f.hint && (
                    <Text size="1" className="muted">
                      {f.hint}
                    </Text>
                  )
                )}
              </label>
            ))}
          </div>
        </fieldset>
      ))}
      <div className="row">
        <Button type="submit" disabled={pending}>
          {pending ? "Saving…" : "Save settings"}
        </Button>
        {state.message && (
          <Text role={state.ok ? "status" : "alert"} className={state.ok ? "" : "field-error"}>
            {state.message}
          </Text>
        )}
      </div>
    </form>
  );
}
