"use client";

import { Button, TextField, Text } from "@whop/react/components";
import { useActionForm } from "@/app/_components/action-form";
import { claimAction, type ClaimState } from "./actions";

export function ClaimForm({ experienceId }: { experienceId: string }) {
  const { state, pending, formProps } = useActionForm<ClaimState>(claimAction.bind(null, experienceId), {
    ok: false,
    message: null,
  });
  return (
    <form {...formProps} className="stack" aria-label="Who invited you?">
      <div className="row">
        <TextField.Root>
          <TextField.Input name="code" placeholder="Their referral code" aria-label="Referral code" required />
        </TextField.Root>
        <Button type="submit" disabled={pending}>
          {pending ? "Saving…" : "Save"}
        </Button>
      </div>
      {state.message && (
        <Text role={state.ok ? "status" : "alert"} className={state.ok ? "" : "field-error"}>
          {state.message}
        </Text>
      )}
    </form>
  );
}
