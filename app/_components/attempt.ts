import { revalidatePath } from "next/cache";
import { DomainError } from "@/lib/db";
import type { ActionState } from "./action-form";

/**
 * Run a server action's work: a DomainError becomes a visible form error (nothing was
 * written), success revalidates `path` and shows `done`. Other errors propagate.
 */
export async function attempt(path: string, done: string, work: () => Promise<unknown>): Promise<ActionState> {
  try {
    await work();
  } catch (err) {
    if (err instanceof DomainError) return { ok: false, message: err.message };
    throw err;
  }
  revalidatePath(path, "layout");
  return { ok: true, message: done };
}
