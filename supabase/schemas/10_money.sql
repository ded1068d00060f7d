-- Money: payments, commissions (per level, plus clawbacks and 'bonus' prize money), the
-- append-only ledger transactions, refunds, payouts and payout_items. Order: tables,
-- indexes, functions (release, balance, the payout lifecycle, decide_commission,
-- level1_amount), then the triggers that keep the ledger append-only. Refunds are applied by
-- apply_refund (80_pipeline.sql); balances are cached in member_money (30_analytics.sql).

-- ── Tables ──────────────────────────────────────────────────────────────────

create table public.payments (
  company_id text not null references public.programs(company_id),
  payment_id text not null,
  user_id text,
  referral_id uuid references public.referrals(id),
  amount_cents bigint not null,
  tax_cents bigint not null default 0,
  currency text not null,
  created_at timestamptz not null default now(),
  primary key (company_id, payment_id),
  -- the Whop product bought, and how much of the payment refunds and disputes took back
  product_id text,
  refunded_cents bigint not null default 0
   check (refunded_cents >= 0 and refunded_cents <= amount_cents),
  -- keyed hash of card brand + last4 + billing postal code
  method_hash text check (method_hash ~ '^[0-9a-f]{64}$'),
  -- the Whop plan bought (a converting payment's plan is also stored on its referral)
  plan_id text
);

alter table public.payments enable row level security;

create table public.payouts (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  user_id text not null,
  amount_cents bigint not null,
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  status text not null default 'requested' check (status in ('requested', 'processing', 'completed', 'failed', 'cancelled')),
  whop_transfer_id text unique,
  error text,
  reason text,
  attempts integer not null default 0,
  requested_at timestamptz not null default now(),
  completed_at timestamptz,
  updated_at timestamptz not null default now()
);

alter table public.payouts enable row level security;

create table public.commissions (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  referral_id uuid references public.referrals(id),
  payment_id text,
  beneficiary_user_id text not null,
  level integer not null default 1 check (level between 1 and 5),
  base_amount_cents bigint not null,
  rate_bp integer not null check (rate_bp between 0 and 10000),
  amount_cents bigint not null,
  currency text not null check (currency ~ '^[A-Z]{3}$'),
  status text not null default 'pending'
    check (status in ('pending', 'available', 'paid', 'on_hold', 'reversed', 'cancelled')),
  available_at timestamptz not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  foreign key (company_id, payment_id) references public.payments(company_id, payment_id),
  kind text not null default 'commission' constraint commissions_kind_check check (kind in ('commission', 'clawback', 'bonus')),
  reversed_cents bigint not null default 0,
  refund_id text,
  reverses_commission_id uuid references public.commissions(id),
  payout_id uuid references public.payouts(id),
  paid_at timestamptz,
  reason text,
  constraint commissions_amount_sign check (
    (kind = 'commission' and amount_cents >= 0 and reversed_cents between 0 and amount_cents)
    or (kind = 'clawback' and amount_cents < 0 and reversed_cents = 0 and refund_id is not null)
    or (kind = 'bonus' and amount_cents > 0 and reversed_cents between 0 and amount_cents and reward_redemption_id is not null)),
  -- A commission says how its rate was made: rate_bp = base rate + campaign_bonus_bp +
  -- tier_bonus_bp. Prize money is a 'bonus' commission with no payment or referral behind it.
  constraint commissions_source check (
    kind = 'bonus' or (referral_id is not null and payment_id is not null)),
  campaign_id uuid, -- references campaigns (50_campaigns.sql)
  campaign_bonus_bp integer not null default 0 check (campaign_bonus_bp between 0 and 10000),
  reward_redemption_id uuid unique, -- references reward_redemptions (50_campaigns.sql)
  -- How a level-1 commission was boosted, stored on the row so its amount explains itself.
  tier_bonus_bp integer not null default 0 check (tier_bonus_bp between 0 and 10000),
  streak_multiplier numeric(4, 2) not null default 1 check (streak_multiplier between 1 and 2)
);

alter table public.commissions enable row level security;

-- Append-only ledger of every movement of money (cents) or points.
create table public.transactions (
  id bigint generated always as identity primary key,
  company_id text not null,
  user_id text,
  kind text not null check (kind in ('payment', 'commission', 'reversal', 'clawback', 'cancellation', 'approval', 'payout', 'points')),
  amount_cents bigint not null default 0,
  currency text,
  points bigint not null default 0,
  reference_type text not null,
  reference_id text not null,
  memo text,
  created_at timestamptz not null default now(),
  -- the kind of a points row (kind 'points'); balances are cached in points_balances
  points_type text constraint transactions_points_type_check check (points_type is null or points_type in (
    'REFERRAL_WELCOME', 'REFERRAL_FIRST_PAYMENT', 'REFERRAL_RECURRING', 'REFERRAL_L2', 'REDEMPTION_DISCOUNT',
    'REDEMPTION_PRODUCT_UNLOCK', 'REDEMPTION_CUSTOM', 'REDEMPTION_REFUND', 'ADMIN_GRANT', 'EXPIRY',
    'CAMPAIGN_BONUS', 'CAMPAIGN_PRIZE', 'MILESTONE_REWARD', 'SURPRISE_DROP', 'CHALLENGE_REWARD')),
  -- who decided: the deciding admin's Whop user id on ledger rows written for them
  actor_user_id text
);

alter table public.transactions enable row level security;

create table public.refunds (
  company_id text not null references public.programs(company_id),
  refund_id text not null,
  kind text not null check (kind in ('refund', 'dispute')),
  payment_id text not null,
  amount_cents bigint not null check (amount_cents >= 0),
  status text not null,
  applied_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  primary key (company_id, refund_id)
);

alter table public.refunds enable row level security;

create table public.payout_items (
  payout_id uuid not null references public.payouts(id),
  commission_id uuid not null references public.commissions(id),
  primary key (payout_id, commission_id)
);

alter table public.payout_items enable row level security;

-- ── Indexes ─────────────────────────────────────────────────────────────────

create index commissions_beneficiary_idx on public.commissions (company_id, beneficiary_user_id, status);

create index transactions_user_idx on public.transactions (company_id, user_id, created_at);

-- one open payout per member per company
create unique index payouts_one_open on public.payouts (company_id, user_id) where status in ('requested', 'processing');

create index payouts_queue_idx on public.payouts (company_id, status, requested_at);

-- one commission per company, payment, beneficiary and level; one clawback per refund and commission
create unique index commissions_natural_key on public.commissions (company_id, payment_id, beneficiary_user_id, level)
  where kind = 'commission';

create unique index commissions_clawback_key on public.commissions (refund_id, reverses_commission_id) where kind = 'clawback';

create index commissions_payout_idx on public.commissions (payout_id);

-- an event earns a member a kind of points once
create unique index transactions_points_once on public.transactions (company_id, user_id, points_type, reference_id)
  where points_type like 'REFERRAL_%';

-- Keyset pagination of the creator's lists: every read starts with company_id.
create index commissions_company_created_idx on public.commissions (company_id, created_at, id);

create index commissions_company_amount_idx on public.commissions (company_id, amount_cents, id);

create index commissions_company_status_created_idx on public.commissions (company_id, status, created_at, id);

create index commissions_member_created_idx on public.commissions (company_id, beneficiary_user_id, created_at, id);

create index commissions_member_pending_idx on public.commissions (company_id, beneficiary_user_id, available_at)
  where status = 'pending';

create index payouts_company_requested_idx on public.payouts (company_id, requested_at, id);

create index payouts_company_status_requested_idx on public.payouts (company_id, status, requested_at, id);

create index payouts_company_amount_idx on public.payouts (company_id, amount_cents, id);

create index payouts_member_idx on public.payouts (company_id, user_id, requested_at);

create index transactions_user_points_idx on public.transactions (company_id, user_id, created_at, id) where kind = 'points';

create index payments_method_idx on public.payments (company_id, method_hash) where method_hash is not null;

-- A referral's payments (its first payment decides whether it counts; a fraud decision locks
-- and re-awards them) and its commissions (the fraud queue's held sums, a decision's locks),
-- each read through an index scoped by company, never a scan of every company's rows.
create index payments_referral_idx on public.payments (company_id, referral_id, created_at, payment_id)
  where referral_id is not null;
create index commissions_referral_idx on public.commissions (company_id, referral_id, status)
  where referral_id is not null;

-- What a refund or a rejection already took back from a commission: its clawbacks.
create index commissions_reverses_idx on public.commissions (company_id, reverses_commission_id)
  where reverses_commission_id is not null;

create unique index transactions_reward_points_once on public.transactions (company_id, user_id, points_type, reference_id)
  where points_type in ('CAMPAIGN_BONUS', 'CAMPAIGN_PRIZE', 'MILESTONE_REWARD', 'CHALLENGE_REWARD');

-- ── Functions ───────────────────────────────────────────────────────────────

-- Trigger function: the ledger refuses every update, delete and truncate (RL409).
create function public.forbid_ledger_change() returns trigger
language plpgsql set search_path = '' as $$
begin
  raise exception 'transactions is append-only' using errcode = 'RL409';
end $$;

-- Job: pending → available once the hold period has passed. Idempotent; returns the count.
create function public.release_commissions() returns integer
language plpgsql security definer set search_path = '' as $$
declare v integer;
begin
  update public.commissions set status = 'available', updated_at = now()
  where status = 'pending' and available_at <= now();
  get diagnostics v = row_count;
  return v;
end $$;

-- What a member can withdraw now, in the program currency: the net (amount − reversed) of
-- their available commissions not in a payout, clawbacks included (may be negative).
create function public.available_balance(p_company_id text, p_user_id text) returns bigint
language sql stable set search_path = '' as $$
  select coalesce(sum(c.amount_cents - c.reversed_cents), 0)::bigint
  from public.commissions c join public.programs p on p.company_id = c.company_id
  where c.company_id = p_company_id and c.beneficiary_user_id = p_user_id and c.status = 'available'
    and c.payout_id is null and c.currency = p.currency
$$;

-- A member asks for their whole available balance. Serialised per member, so N concurrent
-- requests make at most one payout and no commission lands in two. Errors: RL409 a payout
-- is already open; RL400 below the program minimum (or a negative balance from clawbacks).
-- Returns the payout (status requested).
create function public.request_payout(p_company_id text, p_user_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_available bigint;
  v_payout public.payouts;
begin
  perform public.lock_rollups(p_company_id);  -- first, the lock order of every writer
  v_program := public.ensure_program(p_company_id);
  perform pg_advisory_xact_lock(hashtextextended('payout:' || p_company_id || ':' || p_user_id, 0));
  if exists (select 1 from public.payouts where company_id = p_company_id and user_id = p_user_id
             and status in ('requested', 'processing')) then
    raise exception 'You already have a payout in progress' using errcode = 'RL409';
  end if;
  v_available := public.available_balance(p_company_id, p_user_id);
  if v_available < 0 then
    raise exception 'Your balance is negative (%) after a refund; new commissions will earn it back',
      v_available using errcode = 'RL400';
  end if;
  if v_available < greatest(v_program.min_payout_cents, 1) then
    raise exception 'Your available balance (% cents) is below the minimum payout (% cents)',
      v_available, v_program.min_payout_cents using errcode = 'RL400';
  end if;
  insert into public.payouts (company_id, user_id, amount_cents, currency)
  values (p_company_id, p_user_id, v_available, v_program.currency) returning * into v_payout;
  with attached as (
    update public.commissions c set payout_id = v_payout.id, updated_at = now()
    from public.programs p
    where p.company_id = c.company_id and c.company_id = p_company_id and c.beneficiary_user_id = p_user_id
      and c.status = 'available' and c.payout_id is null and c.currency = p.currency
    returning c.id)
  insert into public.payout_items (payout_id, commission_id) select v_payout.id, id from attached;
  return to_jsonb(v_payout);
end $$;

-- Claim the sending of a payout: requested | failed → processing, atomically (the payout's
-- row lock), so one send is in flight at a time: a second approval while it is processing
-- is refused (RL409 "already being paid") and calls Whop not at all. Only the payouts job
-- resends (p_resend), and only a payout processing for over 10 minutes (its send got no
-- answer; the resend reuses the idempotence key). A failed payout (nothing was sent) takes
-- the member's whole withdrawable balance again, clawbacks included, under the same id. The
-- amount is recomputed
-- from what is attached now (a refund may have reduced it). Returns what transfers.create
-- needs: {id, status:'processing', user_id, amount_cents, amount (decimal text), currency,
-- ledger_account_id}; or {id, status:'cancelled'} when refunds left nothing to pay.
-- Errors: RL404 unknown, RL409 completed/cancelled, already being paid or another payout
-- open, RL400 no ledger account set.
create function public.start_payout(p_company_id text, p_payout_id uuid, p_resend boolean default false) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v public.payouts;
  v_program public.programs;
  v_amount bigint;
begin
  perform public.lock_rollups(p_company_id);  -- first, the lock order of every writer
  select * into v_program from public.programs where company_id = p_company_id;
  select * into v from public.payouts where company_id = p_company_id and id = p_payout_id for update;
  if v.id is null then raise exception 'No such payout' using errcode = 'RL404'; end if;
  if v.status not in ('requested', 'failed', 'processing') then
    raise exception 'A % payout can''t be paid', v.status using errcode = 'RL409';
  end if;
  if v.status = 'processing' and not (p_resend and v.updated_at < now() - interval '10 minutes') then
    raise exception 'This payout is already being paid' using errcode = 'RL409';
  end if;
  if v_program.ledger_account_id is null then
    raise exception 'Set the company''s Whop ledger account id in settings before paying out' using errcode = 'RL400';
  end if;
  if v.status = 'failed' then
    -- nothing was sent: take everything withdrawable now, so clawbacks since the failure net
    perform pg_advisory_xact_lock(hashtextextended('payout:' || p_company_id || ':' || v.user_id, 0));
    with attached as (
      update public.commissions c set payout_id = v.id, updated_at = now()
      where c.company_id = p_company_id and c.beneficiary_user_id = v.user_id and c.status = 'available'
        and c.payout_id is null and c.currency = v.currency
      returning c.id)
    insert into public.payout_items (payout_id, commission_id) select v.id, id from attached on conflict do nothing;
  end if;
  -- lock what is attached, then sum what a concurrent refund left
  perform 1 from public.commissions where payout_id = v.id order by id for update;
  select coalesce(sum(amount_cents - reversed_cents), 0) into v_amount
  from public.commissions where payout_id = v.id and status = 'available';
  if v_amount <= 0 then
    -- refunds took everything back before it was sent: cancel (committed, not raised, so
    -- the member is not left with a payout that blocks the next one)
    update public.commissions set payout_id = null, updated_at = now() where payout_id = v.id and status = 'available';
    update public.payouts set status = 'cancelled', reason = 'nothing left to pay', updated_at = now() where id = v.id;
    return jsonb_build_object('id', v.id, 'status', 'cancelled');
  end if;
  begin
    update public.payouts set status = 'processing', amount_cents = v_amount, attempts = attempts + 1,
      error = null, updated_at = now()
    where id = v.id returning * into v;
  exception when unique_violation then
    raise exception 'This member already has another payout open' using errcode = 'RL409';
  end;
  return jsonb_build_object('id', v.id, 'status', 'processing', 'user_id', v.user_id, 'amount_cents', v.amount_cents,
    'amount', (v.amount_cents::numeric / (10::numeric ^ public.currency_minor_units(v.currency)))::text,
    'currency', v.currency, 'ledger_account_id', v_program.ledger_account_id);
end $$;

-- One payout as jsonb (RL404 when unknown).
create function public.get_payout(p_company_id text, p_payout_id uuid) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare v public.payouts;
begin
  select * into v from public.payouts where company_id = p_company_id and id = p_payout_id;
  if v.id is null then raise exception 'No such payout' using errcode = 'RL404'; end if;
  return to_jsonb(v);
end $$;

-- Whop accepted the transfer: processing → completed, its commissions → paid, and the
-- payout leaves the member's balance in the ledger. Idempotent for the same transfer id.
create function public.complete_payout(p_company_id text, p_payout_id uuid, p_transfer_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.payouts;
begin
  perform public.lock_rollups(p_company_id);  -- first, the lock order of every writer
  select * into v from public.payouts where company_id = p_company_id and id = p_payout_id for update;
  if v.id is null then raise exception 'No such payout' using errcode = 'RL404'; end if;
  if v.status = 'completed' and v.whop_transfer_id = p_transfer_id then return to_jsonb(v); end if;
  if v.status <> 'processing' then
    raise exception 'A % payout can''t be completed', v.status using errcode = 'RL409';
  end if;
  update public.payouts set status = 'completed', whop_transfer_id = p_transfer_id, completed_at = now(), updated_at = now()
  where id = v.id returning * into v;
  update public.commissions set status = 'paid', paid_at = now(), updated_at = now()
  where payout_id = v.id and status = 'available';
  insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo)
  values (p_company_id, v.user_id, 'payout', -v.amount_cents, v.currency, 'payout', v.id::text, p_transfer_id);
  return to_jsonb(v);
end $$;

-- Whop refused the transfer: processing → failed with Whop's message; its commissions go
-- back to available (a retry re-attaches them and reuses the payout id as idempotence key).
create function public.fail_payout(p_company_id text, p_payout_id uuid, p_error text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.payouts;
begin
  perform public.lock_rollups(p_company_id);  -- first, the lock order of every writer
  select * into v from public.payouts where company_id = p_company_id and id = p_payout_id for update;
  if v.id is null then raise exception 'No such payout' using errcode = 'RL404'; end if;
  if v.status <> 'processing' then raise exception 'A % payout can''t fail', v.status using errcode = 'RL409'; end if;
  update public.payouts set status = 'failed', error = left(p_error, 1000), updated_at = now() where id = v.id returning * into v;
  update public.commissions set payout_id = null, updated_at = now() where payout_id = v.id and status = 'available';
  return to_jsonb(v);
end $$;

-- Creator cancels a requested or failed payout; its commissions return to available.
create function public.cancel_payout(p_company_id text, p_payout_id uuid, p_reason text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.payouts;
begin
  perform public.lock_rollups(p_company_id);  -- first, the lock order of every writer
  select * into v from public.payouts where company_id = p_company_id and id = p_payout_id for update;
  if v.id is null then raise exception 'No such payout' using errcode = 'RL404'; end if;
  if v.status not in ('requested', 'failed') then
    raise exception 'A % payout can''t be cancelled', v.status using errcode = 'RL409';
  end if;
  update public.payouts set status = 'cancelled', reason = p_reason, updated_at = now() where id = v.id returning * into v;
  update public.commissions set payout_id = null, updated_at = now() where payout_id = v.id and status = 'available';
  return to_jsonb(v);
end $$;

-- Job: payouts due now. For automatic programs whose payout_frequency has elapsed since the
-- last batch, request a payout for every member at or above the minimum; then list every
-- payout to send: requested ones of automatic programs, and processing ones older than
-- 10 minutes (an earlier attempt's outcome is unknown; resending reuses the key).
-- Returns [{company_id, payout_id}].
create function public.due_payouts() returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  p record;
  m record;
begin
  for p in
    select * from public.programs
    where payout_mode = 'automatic' and (last_payout_batch_at is null or last_payout_batch_at <= now() -
      case payout_frequency when 'daily' then interval '1 day' when 'weekly' then interval '7 days' else interval '1 month' end)
    for update skip locked
  loop
    for m in
      select c.beneficiary_user_id as user_id from public.commissions c
      where c.company_id = p.company_id and c.status = 'available' and c.payout_id is null and c.currency = p.currency
      group by c.beneficiary_user_id
      having sum(c.amount_cents - c.reversed_cents) >= greatest(p.min_payout_cents, 1)
    loop
      begin
        perform public.request_payout(p.company_id, m.user_id);
      exception when sqlstate 'RL409' or sqlstate 'RL400' then null;  -- already open, or not eligible
      end;
    end loop;
    update public.programs set last_payout_batch_at = now() where company_id = p.company_id;
  end loop;
  return coalesce((
    select jsonb_agg(jsonb_build_object('company_id', o.company_id, 'payout_id', o.id) order by o.requested_at)
    from public.payouts o join public.programs g on g.company_id = o.company_id
    where (o.status = 'requested' and g.payout_mode = 'automatic')
       or (o.status = 'processing' and o.updated_at < now() - interval '10 minutes')), '[]'::jsonb);
end $$;

-- The creator approves or cancels one commission with a reason (ledger row 'approval' or
-- 'cancellation'): approve on_hold | pending → available (pending while an on_hold one's
-- hold has not passed); cancel on_hold | pending | available, not in a payout → cancelled.
-- A fraud-held commission is decided only through its referral's review (RL409). Errors:
-- RL400 no reason, RL404 unknown, RL409 a decision that does not apply. Returns the row.
create function public.decide_commission(p_company_id text, p_commission_id uuid, p_decision text, p_reason text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.commissions;
begin
  perform public.lock_rollups(p_company_id);  -- first, the lock order of every writer
  if coalesce(trim(p_reason), '') = '' then raise exception 'Give a reason' using errcode = 'RL400'; end if;
  select * into v from public.commissions where company_id = p_company_id and id = p_commission_id for update;
  if v.id is null or v.kind <> 'commission' then raise exception 'No such commission' using errcode = 'RL404'; end if;
  if v.status = 'on_hold' and exists (select 1 from public.referrals where id = v.referral_id and fraud_status = 'held') then
    raise exception 'This commission is held for fraud review: decide its referral in Fraud' using errcode = 'RL409';
  end if;
  if p_decision = 'approve' and v.status in ('on_hold', 'pending') then
    update public.commissions set status = case when v.status = 'pending' or v.available_at <= now() then 'available' else 'pending' end,
      reason = p_reason, updated_at = now()
    where id = v.id returning * into v;
    insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo)
    values (p_company_id, v.beneficiary_user_id, 'approval', 0, v.currency, 'commission', v.id::text, p_reason);
  elsif p_decision = 'cancel' and v.status in ('on_hold', 'pending', 'available') and v.payout_id is null then
    update public.commissions set status = 'cancelled', reason = p_reason, updated_at = now() where id = v.id returning * into v;
    insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo)
    values (p_company_id, v.beneficiary_user_id, 'cancellation', -(v.amount_cents - v.reversed_cents), v.currency,
      'commission', v.id::text, p_reason);
  else
    raise exception 'A % commission can''t take the decision "%"', v.status, p_decision using errcode = 'RL409';
  end if;
  return to_jsonb(v);
end $$;

-- A level-1 commission in cents: (the flat amount + base × rate) × multiplier, rounded once
-- half down (round_half_down). p_base_cents, p_flat_cents: cents; p_rate_bp: basis
-- points; p_multiplier: the streak's (1 without one).
create function public.level1_amount(p_base_cents bigint, p_rate_bp integer, p_flat_cents bigint, p_multiplier numeric)
returns bigint
language sql immutable set search_path = '' as $$
  select public.round_half_down((p_flat_cents * 10000 + p_base_cents::numeric * p_rate_bp) * p_multiplier / 10000)
$$;

-- ── Triggers ────────────────────────────────────────────────────────────────

create trigger transactions_append_only before update or delete on public.transactions
  for each row execute function public.forbid_ledger_change();

-- The ledger stays append-only against TRUNCATE too.
create trigger transactions_no_truncate before truncate on public.transactions
  for each statement execute function public.forbid_ledger_change();
