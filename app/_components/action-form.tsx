"use client";

import { Text } from "@whop/react/components";
import { useActionState } from "react";

export interface ActionState {
  ok: boolean;
  message: string | null;
}

/** A form bound to a server action that answers {ok, message}; shows the message. */
export function ActionForm({
  action,
  label,
  className,
  children,
}: {
  action: (prev: ActionState, form: FormData) => Promise<ActionState>;
  label: string;
  className?: string;
  children: React.ReactNode;
}) {
  const [state, formAction, pending] = useActionState(action, { ok: false, message: null });
  return (
    <form action={formAction} aria-label={label} className={className ?? "row"} aria-busy={pending}>
      {children}
      {state.message && (
        <Text size="2" role={state.ok ? "status" : "alert"} className={state.ok ? "" : "field-error"}>
          {state.message}
        </Text>
      )}
    </form>
  );
}
