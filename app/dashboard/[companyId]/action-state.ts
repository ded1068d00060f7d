/**
 * What the dashboard's server actions share: the answer types their forms show
 * (ActionState for an ActionForm, SettingsState for the settings form with its field
 * errors) and reading a form field. Not a "use server" module: each section's actions.ts
 * (beside its page) imports these.
 */
export type { ActionState } from "@/app/_components/action-form";

/** The settings form's answer: a message, and the error of each field that was refused. */
export interface SettingsState {
  ok: boolean;
  message: string | null;
  errors: Record<string, string>;
}

/** A form field as a string ("" when absent). */
export const field = (form: FormData, name: string) => String(form.get(name) ?? "");
