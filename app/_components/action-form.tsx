"use client";

import { Text } from "@whop/react/components";
import { startTransition, useActionState, useEffect, useRef } from "react";

export interface ActionState {
  ok: boolean;
  message: string | null;
}

/**
 * useActionState for a form that keeps what the person typed when the action answers
 * with an error (React resets a form after a form action; we submit through onSubmit
 * instead) and clears it after a success.
 */
export function useActionForm<S extends ActionState>(action: (prev: S, form: FormData) => Promise<S>, initial: S) {
  const [state, formAction, pending] = useActionState<S, FormData>(action as (prev: Awaited<S>, form: FormData) => Promise<S>, initial as Awaited<S>);
  const ref = useRef<HTMLFormElement>(null);
  useEffect(() => {
    if (state.ok) ref.current?.reset();
  }, [state]);
  const onSubmit = (e: React.FormEvent<HTMLFormElement>) => {
    e.preventDefault();
    const data = new FormData(e.currentTarget);
    // the button that submitted, with its name and value, as a native submit sends it
    const submitter = (e.nativeEvent as SubmitEvent).submitter as HTMLButtonElement | null;
    if (submitter?.name && !data.has(submitter.name)) data.append(submitter.name, submitter.value);
    startTransition(() => formAction(data));
  };
  return { state, pending, formProps: { ref, onSubmit, "aria-busy": pending } };
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
  const { state, formProps } = useActionForm(action, { ok: false, message: null });
  return (
    <form {...formProps} aria-label={label} className={className ?? "row"}>
      {children}
      {state.message && (
        <Text size="2" role={state.ok ? "status" : "alert"} className={state.ok ? "" : "field-error"}>
          {state.message}
        </Text>
      )}
    </form>
  );
}
