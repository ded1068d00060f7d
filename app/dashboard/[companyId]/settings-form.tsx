"use client";

import { Button, Text, TextField } from "@whop/react/components";
import { useActionState } from "react";
import { saveSettingsAction, type SettingsState } from "./actions";

export interface SettingsValues {
  commission_percent: string;
  hold_days: string;
  min_payout: string;
  plan_id: string;
  landing_url: string;
}

const FIELDS: { name: keyof SettingsValues; label: string; hint: string }[] = [
  { name: "commission_percent", label: "Commission (%)", hint: "Of each payment, before tax" },
  { name: "hold_days", label: "Hold period (days)", hint: "Before a commission can be paid out" },
  { name: "min_payout", label: "Minimum payout", hint: "In the program currency" },
  { name: "plan_id", label: "Whop plan id", hint: "Referral links open a checkout for it" },
  { name: "landing_url", label: "Landing URL", hint: "Used when no plan is set" },
];

export function SettingsForm({ companyId, values }: { companyId: string; values: SettingsValues }) {
  const [state, action, pending] = useActionState<SettingsState, FormData>(saveSettingsAction.bind(null, companyId), {
    ok: false,
    message: null,
    errors: {},
  });
  return (
    <form action={action} className="stack" aria-label="Program settings">
      <div className="grid">
        {FIELDS.map((f) => (
          <label key={f.name} className="field">
            <Text size="2" weight="bold">
              {f.label}
            </Text>
            <TextField.Root>
              <TextField.Input name={f.name} defaultValue={values[f.name]} aria-invalid={!!state.errors[f.name]} />
            </TextField.Root>
            {state.errors[f.name] ? (
              <span className="field-error" role="alert">
                {state.errors[f.name]}
              </span>
            ) : (
              <Text size="1" className="muted">
                {f.hint}
              </Text>
            )}
          </label>
        ))}
      </div>
      <div className="row">
        <Button type="submit" disabled={pending}>
          {pending ? "Saving…" : "Save settings"}
        </Button>
        {state.message && (
          <Text role="status" className={state.ok ? "" : "field-error"}>
            {state.message}
          </Text>
        )}
      </div>
    </form>
  );
}
