"use client";

import { Button, Text, TextField } from "@whop/react/components";
import Link from "next/link";
import { useActionForm } from "@/app/_components/action-form";
import { simulatePurchase, type PurchaseState } from "../../actions";

export function PurchaseForm({ checkoutId, backHref }: { checkoutId: string; backHref: string }) {
  const { state, pending, formProps } = useActionForm<PurchaseState>(simulatePurchase.bind(null, checkoutId), {
    ok: false,
    message: null,
  });
  if (state.ok) {
    return (
      <div className="stack">
        <Text role="status">{state.message}</Text>
        <Link href={backHref}>Back to the referral dashboard →</Link>
      </div>
    );
  }
  return (
    <form {...formProps} className="stack">
      <label className="field">
        <Text size="2" weight="bold">
          Buyer&apos;s name
        </Text>
        <TextField.Root>
          <TextField.Input name="name" defaultValue="Jamie Buyer" />
        </TextField.Root>
      </label>
      <div className="row">
        <Button type="submit" disabled={pending}>
          {pending ? "Paying…" : "Simulate purchase — $49.99"}
        </Button>
      </div>
      {state.message && (
        <Text role="alert" className="field-error">
          {state.message}
        </Text>
      )}
    </form>
  );
}
