"use client";

import { Badge, Button, Table, Text } from "@whop/react/components";
import Link from "next/link";
import { Fragment } from "react";
import { useActionForm, type ActionState } from "@/app/_components/action-form";
import { statusColor } from "@/app/_components/format";

/** One referral under review, as the page words it (explanations come from lib/fraud on the server). */
export interface ReviewRow {
  id: string;
  referrer: string;
  referrerUserId: string;
  referrerHref: string;
  referee: string;
  refereeHref: string;
  trusted: boolean;
  score: number;
  fraudStatus: "clear" | "flagged" | "held" | "approved" | "rejected";
  /** "$10.00", or null when nothing is on hold */
  held: string | null;
  convertedOn: string;
  reasons: string[];
  history: string;
  /** "Approved Nov 22, 2026 by you: looks fine", for decided rows */
  decision: string | null;
}

/**
 * The queue's one form: tick rows (or all), give one reason, Approve selected / Reject
 * selected; or a row's own Approve / Reject (with the same reason) or Trust referrer.
 * Decided rows (approved / rejected tabs) can only have their referrer trusted. A table
 * at desktop width; on a phone each row is a card (every cell labelled), so nothing
 * scrolls sideways.
 */
export function ReviewForm({
  action,
  rows,
  open,
  empty,
}: {
  action: (prev: ActionState, form: FormData) => Promise<ActionState>;
  rows: ReviewRow[];
  /** rows can still be decided (the open, held and flagged tabs) */
  open: boolean;
  /** what an empty queue says */
  empty: string;
}) {
  const { state, pending, formProps } = useActionForm(action, { ok: false, message: null });
  const selectAll = (checked: boolean) => {
    formProps.ref.current?.querySelectorAll<HTMLInputElement>('input[name="id"]').forEach((c) => (c.checked = checked));
  };
  const columns = open
    ? ["", "Referral", "Score", "Status", "On hold", "Why", "Referrer's history", "Decide"]
    : ["Referral", "Score", "Status", "Why", "Referrer's history", "Decision", "Trust"];
  return (
    <form {...formProps} aria-label="Review referrals" className="stack">
      {/* Enter in the reason field must not approve anything: the default button is disabled */}
      <button type="submit" disabled hidden aria-hidden="true" tabIndex={-1} />
      {open && rows.length > 0 && (
        <div className="filters">
          <label className="row tight-row">
            <input type="checkbox" onChange={(e) => selectAll(e.currentTarget.checked)} />
            <Text size="2">Select all</Text>
          </label>
          <input className="select reason-input" name="reason" placeholder="Reason (kept in the ledger)" aria-label="Reason" maxLength={500} />
          <Button size="1" type="submit" name="op" value="approve" disabled={pending}>
            Approve selected
          </Button>
          <Button size="1" type="submit" name="op" value="reject" color="red" variant="soft" disabled={pending}>
            Reject selected
          </Button>
        </div>
      )}
      {state.message && (
        <Text size="2" role={state.ok ? "status" : "alert"} className={state.ok ? "" : "field-error"}>
          {state.message}
        </Text>
      )}
      {rows.length === 0 ? (
        <Text className="muted">{empty}</Text>
      ) : (
        <div className={`table-scroll review-queue${open ? " selectable" : ""}`}>
          <Table.Root>
            <Table.Table aria-label="Review queue">
              <Table.Header>
                <Table.Row>
                  {columns.map((c, i) => (
                    <Table.ColumnHeaderCell key={i}>{c || <span className="visually-hidden">Select</span>}</Table.ColumnHeaderCell>
                  ))}
                </Table.Row>
              </Table.Header>
              <Table.Body>
                {rows.map((r) => (
                  <Row key={r.id} r={r} open={open} pending={pending} />
                ))}
              </Table.Body>
            </Table.Table>
          </Table.Root>
        </div>
      )}
    </form>
  );
}

function Row({ r, open, pending }: { r: ReviewRow; open: boolean; pending: boolean }) {
  const pair = `${r.referrer} → ${r.referee}`;
  const trust = !r.trusted && (
    <Button size="1" variant="ghost" type="submit" name="op" value={`trust:${r.referrerUserId}`} aria-label={`Trust referrer ${r.referrer}`} disabled={pending}>
      Trust referrer
    </Button>
  );
  const cell = (label: string, children: React.ReactNode, className?: string) => (
    <Table.Cell data-label={label} className={className}>
      {children}
    </Table.Cell>
  );
  const cells = [
    cell(
      "Referral",
      <div className="stack tight">
        <span className="nowrap">
          <Link href={r.referrerHref}>{r.referrer}</Link>
          {r.trusted && (
            <>
              {" "}
              <Badge color="green">trusted</Badge>
            </>
          )}{" "}
          → <Link href={r.refereeHref}>{r.referee}</Link>
        </span>
        <Text size="1" className="muted">
          {r.convertedOn}
        </Text>
      </div>,
    ),
    cell("Score", <strong>{r.score}</strong>, "inline-cell"),
    cell("Status", <Badge color={statusColor[r.fraudStatus] ?? "gray"}>{r.fraudStatus}</Badge>, "inline-cell"),
  ];
  if (open) cells.push(cell("On hold", r.held ?? "—", "inline-cell"));
  cells.push(
    cell(
      "Why",
      r.reasons.length === 0 ? (
        <Text size="2" className="muted">
          No signal fired
        </Text>
      ) : (
        <ul className="reasons" aria-label={`Why ${pair} was flagged`}>
          {r.reasons.map((w) => (
            <li key={w}>{w}</li>
          ))}
        </ul>
      ),
      "why-cell",
    ),
    cell("Referrer's history", <Text size="2">{r.history}</Text>),
  );
  if (open) {
    cells.unshift(
      <Table.Cell className="select-cell">
        <input type="checkbox" name="id" value={r.id} aria-label={`Select ${pair}`} />
      </Table.Cell>,
    );
    cells.push(
      cell(
        "Decide",
        <div className="decide">
          <Button size="1" type="submit" name="op" value={`approve:${r.id}`} aria-label={`Approve ${pair}`} disabled={pending}>
            Approve
          </Button>
          <Button size="1" type="submit" name="op" value={`reject:${r.id}`} color="red" variant="soft" aria-label={`Reject ${pair}`} disabled={pending}>
            Reject
          </Button>
          {trust}
        </div>,
      ),
    );
  } else {
    cells.push(cell("Decision", <Text size="2">{r.decision}</Text>), cell("Trust", trust || "—"));
  }
  return (
    <Table.Row>
      {cells.map((c, i) => (
        <Fragment key={i}>{c}</Fragment>
      ))}
    </Table.Row>
  );
}
