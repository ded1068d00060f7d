-- Notifications: the notifications outbox (one row per kind, source and member), filled by
-- triggers on the rows events write (commissions, referral_tiers, reward_redemptions,
-- payouts) and sent by lib/notifications (take_due_notifications, settle_notification).
-- Order: table, indexes, functions, then the triggers last (they need their functions).

-- ── Tables ──────────────────────────────────────────────────────────────────

create table public.notifications (
  id uuid primary key default gen_random_uuid(),
  company_id text not null,
  user_id text not null,
  kind text not null check (kind in ('commission_earned', 'tier_reached', 'milestone_reached', 'challenge_completed', 'payout_sent')),
  -- the commission, tier name, redemption or payout it is about
  source_id text not null,
  -- what the words are made from: {amount_cents, currency, level} | {tier, bonus_pct} | {name} | {amount_cents, currency}
  data jsonb not null default '{}',
  -- 'pending' until Whop accepts it ('sent'); 'failed' after the last attempt
  status text not null default 'pending' check (status in ('pending', 'sent', 'failed')),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  sent_at timestamptz,
  error_message text,
  created_at timestamptz not null default now(),
  unique (company_id, kind, source_id, user_id)
);

alter table public.notifications enable row level security;

-- ── Indexes ─────────────────────────────────────────────────────────────────

create index notifications_due_idx on public.notifications (next_attempt_at) where status = 'pending';

create index notifications_company_due_idx on public.notifications (company_id, next_attempt_at) where status = 'pending';

create index notifications_member_idx on public.notifications (company_id, user_id, created_at desc);

-- ── Functions ───────────────────────────────────────────────────────────────

-- Queue one notification unless its kind is off or the member muted them; a repeat of the
-- same (kind, source, member) queues nothing.
create function public.queue_notification(p_company_id text, p_user_id text, p_kind text, p_source_id text, p_data jsonb)
returns void
language plpgsql security definer set search_path = '' as $$
begin
  if exists (select 1 from public.programs where company_id = p_company_id and p_kind = any(notifications_off))
     or exists (select 1 from public.users where company_id = p_company_id and user_id = p_user_id and notifications_muted) then
    return;
  end if;
  insert into public.notifications (company_id, user_id, kind, source_id, data)
  values (p_company_id, p_user_id, p_kind, p_source_id, p_data)
  on conflict do nothing;
end $$;

-- The outbox is filled by the rows the events write (the rules that make those rows stay in
-- their functions; these only say "tell the member").
create function public.trg_commissions_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  -- earned: a commission or money prize that counts now (not one held for review)
  if new.kind in ('commission', 'bonus') and new.amount_cents > 0 and new.status in ('pending', 'available') then
    perform public.queue_notification(new.company_id, new.beneficiary_user_id, 'commission_earned', new.id::text,
      jsonb_build_object('amount_cents', new.amount_cents, 'currency', new.currency, 'level', new.level, 'kind', new.kind));
  end if;
  return null;
end $$;

create function public.trg_tiers_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_tier jsonb;
begin
  -- reached by a new best (a changed tiers list re-names tiers without anyone reaching one)
  if new.current_tier is distinct from old.current_tier
     and (new.best_conversions, new.best_commissions_cents) is distinct from (old.best_conversions, old.best_commissions_cents) then
    select * into v_program from public.programs where company_id = new.company_id;
    select t into v_tier from jsonb_array_elements(v_program.tiers) t where t->>'name' = new.current_tier;
    if coalesce(public.tier_min(v_program, v_tier), 0) > 0 then
      perform public.queue_notification(new.company_id, new.user_id, 'tier_reached', new.current_tier,
        jsonb_build_object('tier', new.current_tier, 'bonus_pct', (v_tier->>'bonus_pct')::numeric));
    end if;
  end if;
  return null;
end $$;

create function public.trg_redemptions_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.reward_id is not null then
    perform public.queue_notification(new.company_id, new.user_id, 'milestone_reached', new.id::text, jsonb_build_object('name', new.name));
  elsif new.challenge_id is not null then
    perform public.queue_notification(new.company_id, new.user_id, 'challenge_completed', new.id::text, jsonb_build_object('name', new.name));
  end if;
  return null;
end $$;

create function public.trg_payouts_notify() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.status = 'completed' and old.status is distinct from 'completed' then
    perform public.queue_notification(new.company_id, new.user_id, 'payout_sent', new.id::text,
      jsonb_build_object('amount_cents', new.amount_cents, 'currency', new.currency));
  end if;
  return null;
end $$;

-- Take up to p_limit due notifications (of one company, or all) for sending: each taken row
-- counts an attempt and is not due again until its backoff has passed (1, 2, 4 … 256
-- minutes), so two senders never take the same row at once. Returns [{id, company_id,
-- user_id, kind, data, attempts, experience_id}].
create function public.take_due_notifications(p_limit integer, p_company_id text default null) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v jsonb;
begin
  with due as (
    select id from public.notifications
    where status = 'pending' and next_attempt_at <= now() and (p_company_id is null or company_id = p_company_id)
    order by next_attempt_at limit least(greatest(coalesce(p_limit, 50), 1), 500)
    for update skip locked),
  taken as (
    update public.notifications n set attempts = n.attempts + 1,
      next_attempt_at = now() + make_interval(mins => power(2, least(n.attempts, 8))::integer)
    from due where n.id = due.id returning n.*)
  select coalesce(jsonb_agg(jsonb_build_object('id', t.id, 'company_id', t.company_id, 'user_id', t.user_id, 'kind', t.kind,
    'data', t.data, 'attempts', t.attempts, 'experience_id', p.experience_id) order by t.created_at), '[]') into v
  from taken t join public.programs p on p.company_id = t.company_id;
  return v;
end $$;

-- What the sender learnt: sent (p_error null) or not (kept for the next attempt; 'failed'
-- after the 9th). Returns the notification's status.
create function public.settle_notification(p_id uuid, p_error text) returns text
language plpgsql security definer set search_path = '' as $$
declare v text;
begin
  update public.notifications set
    status = case when p_error is null then 'sent' when attempts >= 9 then 'failed' else 'pending' end,
    sent_at = case when p_error is null then now() end,
    error_message = left(p_error, 500)
  where id = p_id and status = 'pending'
  returning status into v;
  return v;
end $$;

-- The member's choice to mute (or hear) Referly's notifications. Returns it. Errors: RL404.
create function public.set_notifications_muted(p_company_id text, p_user_id text, p_muted boolean) returns boolean
language plpgsql security definer set search_path = '' as $$
begin
  if p_muted is null then raise exception 'Muted is true or false' using errcode = 'RL400'; end if;
  update public.users set notifications_muted = p_muted, updated_at = now() where company_id = p_company_id and user_id = p_user_id;
  if not found then raise exception 'No such member' using errcode = 'RL404'; end if;
  return p_muted;
end $$;

-- Where members are reached: the company's Referly experience, noted when a member opens
-- the app (an update only when it changed).
create function public.note_experience(p_company_id text, p_experience_id text) returns void
language sql security definer set search_path = '' as $$
  update public.programs set experience_id = p_experience_id
  where company_id = p_company_id and experience_id is distinct from p_experience_id
$$;

-- ── Triggers ────────────────────────────────────────────────────────────────

create trigger commissions_notify after insert on public.commissions for each row execute function public.trg_commissions_notify();

create trigger referral_tiers_notify after insert or update of current_tier on public.referral_tiers
  for each row execute function public.trg_tiers_notify();

create trigger reward_redemptions_notify after insert on public.reward_redemptions
  for each row execute function public.trg_redemptions_notify();

create trigger payouts_notify after update of status on public.payouts for each row execute function public.trg_payouts_notify();
