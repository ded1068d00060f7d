-- The money lifecycle (issue 3): multi-level and recurring commissions, hold and release,
-- creator approval, refunds/disputes with pro-rata reversal or clawback, payouts through
-- Whop transfers, and the points economy (seed 002). Every rule lives here, once.

-- ── Program settings ────────────────────────────────────────────────────────
alter table public.programs
  add column mlm_enabled boolean not null default false,
  add column max_level integer not null default 1 check (max_level between 1 and 5),
  -- rates of levels 2..5 in basis points (level 1 is commission_rate_bp); seed 003 defaults 5%, 2%
  add column upper_level_rates_bp integer[] not null default '{500,200,100,100}'
    check (array_length(upper_level_rates_bp, 1) = 4 and 0 <= all(upper_level_rates_bp) and 10000 >= all(upper_level_rates_bp)),
  add column level2_months integer not null default 6 check (level2_months between 0 and 120),
  add column commission_type text not null default 'percentage' check (commission_type in ('percentage', 'flat')),
  add column flat_amount_cents bigint not null default 0 check (flat_amount_cents >= 0),
  -- Whop product id → level-1 rate in basis points
  add column product_rates_bp jsonb not null default '{}' check (jsonb_typeof(product_rates_bp) = 'object'),
  add column payout_mode text not null default 'manual' check (payout_mode in ('manual', 'automatic')),
  add column payout_frequency text not null default 'weekly' check (payout_frequency in ('daily', 'weekly', 'monthly')),
  add column last_payout_batch_at timestamptz,
  add column ledger_account_id text check (ledger_account_id is null or ledger_account_id ~ '^[a-z]+_[A-Za-z0-9]+$'),
  add column points_welcome integer not null default 100 check (points_welcome >= 0),
  add column points_first_payment integer not null default 500 check (points_first_payment >= 0),
  add column points_recurring integer not null default 100 check (points_recurring >= 0),
  add column points_l2 integer not null default 50 check (points_l2 >= 0),
  add column points_recurring_months integer not null default 12 check (points_recurring_months between 0 and 120),
  add column points_expiry_days integer check (points_expiry_days is null or points_expiry_days > 0);

-- ── Commissions: reversals, clawbacks, payouts ──────────────────────────────
alter table public.payments add column product_id text, add column refunded_cents bigint not null default 0
  check (refunded_cents >= 0 and refunded_cents <= amount_cents);

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
-- one open payout per member per company
create unique index payouts_one_open on public.payouts (company_id, user_id) where status in ('requested', 'processing');
create index payouts_queue_idx on public.payouts (company_id, status, requested_at);

alter table public.commissions
  add column kind text not null default 'commission' check (kind in ('commission', 'clawback')),
  add column reversed_cents bigint not null default 0,
  add column refund_id text,
  add column reverses_commission_id uuid references public.commissions(id),
  add column payout_id uuid references public.payouts(id),
  add column paid_at timestamptz,
  add column reason text,
  add constraint commissions_amount_sign check (
    (kind = 'commission' and amount_cents >= 0 and reversed_cents between 0 and amount_cents)
    or (kind = 'clawback' and amount_cents < 0 and reversed_cents = 0 and refund_id is not null));
do $$
declare v text;
begin
  select conname into v from pg_constraint
  where conrelid = 'public.commissions'::regclass and contype = 'u';
  execute format('alter table public.commissions drop constraint %I', v);
end $$;
-- one commission per company, payment, beneficiary and level; one clawback per refund and commission
create unique index commissions_natural_key on public.commissions (company_id, payment_id, beneficiary_user_id, level)
  where kind = 'commission';
create unique index commissions_clawback_key on public.commissions (refund_id, reverses_commission_id) where kind = 'clawback';
create index commissions_payout_idx on public.commissions (payout_id);

create table public.payout_items (
  payout_id uuid not null references public.payouts(id),
  commission_id uuid not null references public.commissions(id),
  primary key (payout_id, commission_id)
);

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

-- ── Points (seed 002): ledger rows in transactions, balance cache here ─────
alter table public.transactions
  add column points_type text check (points_type is null or points_type in ('REFERRAL_WELCOME',
    'REFERRAL_FIRST_PAYMENT', 'REFERRAL_RECURRING', 'REFERRAL_L2', 'REDEMPTION_PROMO_CODE',
    'REDEMPTION_FREE_ACCESS', 'REDEMPTION_CUSTOM', 'REDEMPTION_REFUND', 'ADMIN_GRANT', 'EXPIRY'));
alter table public.transactions drop constraint transactions_kind_check;
alter table public.transactions add constraint transactions_kind_check check (kind in ('payment', 'commission',
  'reversal', 'clawback', 'cancellation', 'approval', 'payout', 'points'));
-- an event earns a member a kind of points once
create unique index transactions_points_once on public.transactions (company_id, user_id, points_type, reference_id)
  where points_type like 'REFERRAL_%';

create table public.points_balances (
  company_id text not null,
  user_id text not null,
  balance bigint not null default 0 check (balance >= 0),
  total_earned bigint not null default 0,
  total_spent bigint not null default 0,
  updated_at timestamptz not null default now(),
  primary key (company_id, user_id)
);

create table public.points_items (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  name text not null check (length(name) between 1 and 80),
  cost_points integer not null check (cost_points > 0),
  grant_type text not null check (grant_type in ('promo_code', 'free_access', 'custom')),
  -- promo_code: {percent_off, plan_id?}; free_access: {plan_id}; custom: {note}
  grant_config jsonb not null default '{}',
  is_active boolean not null default true,
  created_at timestamptz not null default now()
);

create table public.redemptions (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  user_id text not null,
  item_id uuid not null references public.points_items(id),
  cost_points integer not null,
  status text not null default 'pending' check (status in ('pending', 'granted', 'claimed', 'failed')),
  result jsonb,
  error text,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

alter table public.payouts enable row level security;
alter table public.payout_items enable row level security;
alter table public.refunds enable row level security;
alter table public.points_balances enable row level security;
alter table public.points_items enable row level security;
alter table public.redemptions enable row level security;

-- ── Points ──────────────────────────────────────────────────────────────────

-- Add p_delta points (negative = spend) as one ledger row and update the balance cache in
-- the same transaction. Refuses (RL400) to take the balance below zero. Returns the new
-- balance. p_type is a seed-002 type (REFERRAL_*, REDEMPTION_*, ADMIN_GRANT, EXPIRY).
create function public.add_points(p_company_id text, p_user_id text, p_delta bigint, p_type text,
  p_reference_type text, p_reference_id text, p_memo text) returns bigint
language plpgsql security definer set search_path = '' as $$
declare v_balance bigint;
begin
  if p_delta = 0 then
    select balance into v_balance from public.points_balances where company_id = p_company_id and user_id = p_user_id;
    return coalesce(v_balance, 0);
  end if;
  insert into public.points_balances (company_id, user_id) values (p_company_id, p_user_id) on conflict do nothing;
  select balance into v_balance from public.points_balances
  where company_id = p_company_id and user_id = p_user_id for update;
  if v_balance + p_delta < 0 then
    raise exception 'Not enough points: the balance is % and this needs %', v_balance, -p_delta using errcode = 'RL400';
  end if;
  insert into public.transactions (company_id, user_id, kind, points, points_type, reference_type, reference_id, memo)
  values (p_company_id, p_user_id, 'points', p_delta, p_type, p_reference_type, p_reference_id, p_memo)
  on conflict do nothing;
  if not found then return v_balance; end if;  -- this event already earned these points
  update public.points_balances set
    balance = balance + p_delta,
    total_earned = total_earned + greatest(p_delta, 0),
    total_spent = total_spent + least(p_delta, 0),
    updated_at = now()
  where company_id = p_company_id and user_id = p_user_id
  returning balance into v_balance;
  return v_balance;
end $$;

-- ── Commissions on payment ─────────────────────────────────────────────────

-- The referrer of p_user in this company (the chain's next link), or null.
create function public.referrer_of(p_company_id text, p_user_id text) returns text
language sql stable set search_path = '' as $$
  select referrer_user_id from public.referrals
  where company_id = p_company_id and referee_user_id = p_user_id and status in ('pending', 'converted')
$$;

-- payment.succeeded (DESIGN.md flow 4, seeds 002/003). Records the payment and its ledger
-- row, attributes it, converts a pending referral on its first payment, then pays each
-- ancestor up the referrer chain, level 1 … (mlm_enabled ? max_level : 1):
--   level 1 rate = product_rates_bp[product] or commission_rate_bp; level n ≥ 2 rate =
--   upper_level_rates_bp[n-1]; amount = round_half_down((total − tax) cents × rate / 10000);
--   commission_type 'flat' pays flat_amount_cents at level 1 on the first payment only.
--   Renewals earn while within recurring_months of conversion (0 = first payment only);
--   level ≥ 2 additionally only within level2_months.
-- Points: REFERRAL_WELCOME to the referee and REFERRAL_FIRST_PAYMENT to the referrer on
-- conversion; REFERRAL_RECURRING to the referrer on renewals within points_recurring_months;
-- REFERRAL_L2 to the level-2 ancestor within level2_months. Commissions start pending until
-- created_at + hold_days (available at once when hold_days = 0).
create function public.apply_payment_succeeded(p_company_id text, p_payment jsonb) returns text
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_payment_id text := p_payment->>'id';
  v_user_id text := p_payment->'user'->>'id';
  v_currency text := upper(p_payment->>'currency');
  v_product_id text := p_payment->'product'->>'id';
  v_total_cents bigint;
  v_tax_cents bigint;
  v_ref public.referrals;
  v_first boolean := false;
  v_base bigint;
  v_beneficiary text;
  v_level integer := 1;
  v_max_level integer;
  v_rate integer;
  v_amount bigint;
  v_commission_id uuid;
  v_created integer := 0;
begin
  if v_payment_id is null or v_user_id is null or coalesce(v_currency, '') !~ '^[A-Z]{3}$'
     or jsonb_typeof(p_payment->'total') is distinct from 'number' then
    raise exception 'payment needs id, user.id, currency and a numeric total' using errcode = 'RL400';
  end if;
  v_program := public.ensure_program(p_company_id);
  v_total_cents := public.to_minor_units((p_payment->>'total')::numeric, v_currency);
  v_tax_cents := coalesce(public.to_minor_units((p_payment->>'tax_amount')::numeric, v_currency), 0);
  perform public.upsert_user(p_company_id, v_user_id, p_payment->'user'->>'username', p_payment->'user'->>'name');

  insert into public.payments (company_id, payment_id, user_id, amount_cents, tax_cents, currency, product_id)
  values (p_company_id, v_payment_id, v_user_id, v_total_cents, v_tax_cents, v_currency, v_product_id)
  on conflict do nothing;
  if not found then return 'duplicate_payment'; end if;
  insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id)
  values (p_company_id, v_user_id, 'payment', v_total_cents, v_currency, 'payment', v_payment_id);

  v_ref := public.attribute_referral(p_company_id, v_user_id, p_payment->'metadata');
  if v_ref.id is null then return 'no_attribution'; end if;
  -- lock the referral: a renewal racing the first payment must see it converted
  select * into v_ref from public.referrals where id = v_ref.id for update;
  if v_ref.status = 'pending' and v_ref.expires_at < now() then
    update public.referrals set status = 'expired', updated_at = now() where id = v_ref.id;
    return 'referral_expired';
  end if;
  if v_ref.status in ('expired', 'cancelled') then return 'referral_' || v_ref.status; end if;
  update public.payments set referral_id = v_ref.id where company_id = p_company_id and payment_id = v_payment_id;
  if v_ref.status = 'pending' then
    update public.referrals set status = 'converted', converted_at = now(), updated_at = now()
    where id = v_ref.id returning * into v_ref;
    update public.referral_clicks set converted = true where id = v_ref.click_id;
    v_first := true;
  end if;

  -- points of the referee and the referrer
  if v_first then
    perform public.add_points(p_company_id, v_user_id, v_program.points_welcome, 'REFERRAL_WELCOME', 'payment', v_payment_id, null);
    perform public.add_points(p_company_id, v_ref.referrer_user_id, v_program.points_first_payment, 'REFERRAL_FIRST_PAYMENT', 'payment', v_payment_id, null);
  elsif now() <= v_ref.converted_at + make_interval(months => v_program.points_recurring_months) then
    perform public.add_points(p_company_id, v_ref.referrer_user_id, v_program.points_recurring, 'REFERRAL_RECURRING', 'payment', v_payment_id, null);
  end if;
  v_beneficiary := public.referrer_of(p_company_id, v_ref.referrer_user_id);
  if v_beneficiary is not null and now() <= v_ref.converted_at + make_interval(months => v_program.level2_months) then
    perform public.add_points(p_company_id, v_beneficiary, v_program.points_l2, 'REFERRAL_L2', 'payment', v_payment_id, null);
  end if;

  -- commissions up the chain
  if not v_first and (v_program.recurring_months = 0 or now() > v_ref.converted_at + make_interval(months => v_program.recurring_months)) then
    return 'outside_recurring_window';
  end if;
  v_base := greatest(v_total_cents - v_tax_cents, 0);
  v_max_level := case when v_program.mlm_enabled then v_program.max_level else 1 end;
  v_beneficiary := v_ref.referrer_user_id;
  while v_beneficiary is not null and v_level <= v_max_level loop
    exit when v_level >= 2 and now() > v_ref.converted_at + make_interval(months => v_program.level2_months);
    if v_level = 1 then
      v_rate := coalesce((v_program.product_rates_bp->>v_product_id)::integer, v_program.commission_rate_bp);
    else
      v_rate := v_program.upper_level_rates_bp[v_level - 1];
    end if;
    if v_level = 1 and v_program.commission_type = 'flat' then
      v_amount := case when v_first then v_program.flat_amount_cents else 0 end;
      v_rate := 0;
    else
      v_amount := public.round_half_down(v_base::numeric * v_rate / 10000);
    end if;
    if v_amount > 0 then
      insert into public.commissions (company_id, referral_id, payment_id, beneficiary_user_id, level,
        base_amount_cents, rate_bp, amount_cents, currency, status, available_at)
      values (p_company_id, v_ref.id, v_payment_id, v_beneficiary, v_level, v_base, v_rate, v_amount, v_currency,
        case when v_program.hold_days = 0 then 'available' else 'pending' end,
        now() + make_interval(days => v_program.hold_days))
      on conflict do nothing
      returning id into v_commission_id;
      if v_commission_id is not null then
        insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id)
        values (p_company_id, v_beneficiary, 'commission', v_amount, v_currency, 'commission', v_commission_id::text);
        v_created := v_created + 1;
      end if;
    end if;
    v_level := v_level + 1;
    v_beneficiary := public.referrer_of(p_company_id, v_beneficiary);
  end loop;
  return case when v_created > 0 then 'commission_created' else 'no_commission' end;
end $$;

-- ── Refunds and disputes ────────────────────────────────────────────────────

-- refund.created / refund.updated / dispute.created (DESIGN.md flow 5). A refund counts
-- once its status is 'succeeded' (a dispute counts when created). The payment's refunded
-- total grows by the amount; each level's commission is reversed pro rata:
--   target = amount × refunded / total (round_half_down; all of it when fully refunded),
-- and only the difference to what was already taken back is moved now. A commission not
-- yet paid (nor in a payout being sent) is reduced (→ 'reversed' when nothing is left);
-- one already paid or in flight gets a negative 'clawback' commission, available at once,
-- that nets against the next payout. Unknown payment, a repeat, or a refund that is not
-- (yet) succeeded changes nothing. Returns an outcome word.
create function public.apply_refund(p_company_id text, p_kind text, p_data jsonb) returns text
language plpgsql security definer set search_path = '' as $$
declare
  v_refund_id text := p_data->>'id';
  v_payment_id text := coalesce(p_data->'payment'->>'id', p_data->>'payment_id');
  v_status text := case when p_kind = 'dispute' then 'succeeded' else p_data->>'status' end;
  v_payment public.payments;
  v_refund public.refunds;
  v_amount bigint;
  v_refunded bigint;
  c record;
  v_target bigint;
  v_taken bigint;
  v_delta bigint;
  v_moved integer := 0;
  v_payout_status text;
begin
  if v_refund_id is null or jsonb_typeof(p_data->'amount') is distinct from 'number' then
    raise exception '% needs an id and a numeric amount', p_kind using errcode = 'RL400';
  end if;
  if v_payment_id is null then return 'unknown_payment'; end if;
  select * into v_payment from public.payments
  where company_id = p_company_id and payment_id = v_payment_id for update;
  if v_payment.payment_id is null then return 'unknown_payment'; end if;
  v_amount := public.to_minor_units((p_data->>'amount')::numeric, v_payment.currency);

  insert into public.refunds (company_id, refund_id, kind, payment_id, amount_cents, status)
  values (p_company_id, v_refund_id, p_kind, v_payment_id, v_amount, v_status)
  on conflict (company_id, refund_id) do update set status = excluded.status,
    amount_cents = case when public.refunds.applied_at is null then excluded.amount_cents else public.refunds.amount_cents end,
    updated_at = now();
  select * into v_refund from public.refunds where company_id = p_company_id and refund_id = v_refund_id for update;
  if v_refund.status <> 'succeeded' then return 'refund_' || v_refund.status; end if;
  if v_refund.applied_at is not null then return 'refund_already_applied'; end if;
  update public.refunds set applied_at = now() where company_id = p_company_id and refund_id = v_refund_id;

  v_refunded := least(v_payment.amount_cents, v_payment.refunded_cents + v_refund.amount_cents);
  update public.payments set refunded_cents = v_refunded where company_id = p_company_id and payment_id = v_payment_id;

  -- lock the payouts these commissions are in before the commissions themselves, the same
  -- order as start_payout: a payout being started either sees the reduced amounts or is
  -- seen here as processing (→ clawback), never neither
  perform 1 from public.payouts
  where id in (select payout_id from public.commissions where company_id = p_company_id and payment_id = v_payment_id)
  order by id for update;

  for c in
    select cm.* from public.commissions cm
    where cm.company_id = p_company_id and cm.payment_id = v_payment_id and cm.kind = 'commission'
    order by cm.level for update
  loop
    continue when c.status in ('reversed', 'cancelled');
    -- read the payout's status now that the commission is locked (a join in the locking
    -- query could show a payout state older than the row it waited for)
    select status into v_payout_status from public.payouts where id = c.payout_id;
    v_target := case when v_refunded >= v_payment.amount_cents or v_payment.amount_cents = 0 then c.amount_cents
                     else public.round_half_down(c.amount_cents::numeric * v_refunded / v_payment.amount_cents) end;
    select c.reversed_cents + coalesce(-sum(k.amount_cents), 0) into v_taken
    from public.commissions k where k.reverses_commission_id = c.id;
    v_delta := v_target - v_taken;
    continue when v_delta <= 0;
    if c.status = 'paid' or v_payout_status is not distinct from 'processing' then
      insert into public.commissions (company_id, referral_id, payment_id, beneficiary_user_id, level, kind,
        base_amount_cents, rate_bp, amount_cents, currency, status, available_at, refund_id, reverses_commission_id, reason)
      values (p_company_id, c.referral_id, c.payment_id, c.beneficiary_user_id, c.level, 'clawback',
        0, c.rate_bp, -v_delta, c.currency, 'available', now(), v_refund_id, c.id, p_kind || ' ' || v_refund_id);
      insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo)
      values (p_company_id, c.beneficiary_user_id, 'clawback', -v_delta, c.currency, 'commission', c.id::text, p_kind || ' ' || v_refund_id);
    else
      update public.commissions set reversed_cents = reversed_cents + v_delta,
        status = case when reversed_cents + v_delta = amount_cents then 'reversed' else status end,
        updated_at = now()
      where id = c.id;
      insert into public.transactions (company_id, user_id, kind, amount_cents, currency, reference_type, reference_id, memo)
      values (p_company_id, c.beneficiary_user_id, 'reversal', -v_delta, c.currency, 'commission', c.id::text, p_kind || ' ' || v_refund_id);
    end if;
    v_moved := v_moved + 1;
  end loop;
  return case when v_moved > 0 then p_kind || '_reversed' else p_kind || '_recorded' end;
end $$;

-- Entry point for every verified Whop webhook. The event row is inserted first, keyed by
-- Whop's event id, so a retried or concurrent duplicate delivery does nothing
-- (returns {duplicate:true}). Company: the envelope's company_id, else data.company.id.
-- Routes payments, signups, refunds and disputes; other types are recorded. Returns
-- {duplicate, outcome}.
create function public.process_webhook_event(p_event_id text, p_type text, p_company_id text, p_data jsonb)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_company text := coalesce(p_company_id, p_data->'company'->>'id');
  v_outcome text;
begin
  if p_event_id is null or p_type is null then
    raise exception 'event needs id and type' using errcode = 'RL400';
  end if;
  insert into public.webhook_events (event_id, company_id, type, payload)
  values (p_event_id, v_company, p_type, p_data)
  on conflict do nothing;
  if not found then
    return jsonb_build_object('duplicate', true,
      'outcome', (select outcome from public.webhook_events where event_id = p_event_id));
  end if;
  if v_company is null or v_company !~ '^biz_' then
    v_outcome := 'no_company';
  elsif p_type = 'payment.succeeded' then
    v_outcome := public.apply_payment_succeeded(v_company, p_data);
  elsif p_type = 'membership.activated' then
    v_outcome := public.apply_membership_activated(v_company, p_data);
  elsif p_type in ('refund.created', 'refund.updated') then
    v_outcome := public.apply_refund(v_company, 'refund', p_data);
  elsif p_type = 'dispute.created' then
    v_outcome := public.apply_refund(v_company, 'dispute', p_data);
  else
    v_outcome := 'recorded';
  end if;
  update public.webhook_events set outcome = v_outcome where event_id = p_event_id;
  return jsonb_build_object('duplicate', false, 'outcome', v_outcome);
end $$;

-- ── Commission status changes by job and by the creator ────────────────────

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

-- Creator decision on one commission, with a reason written to the ledger:
--   approve: on_hold → pending (→ available if the hold has passed); pending → available now.
--   cancel:  on_hold | pending | available (not in a payout) → cancelled, its net amount reversed.
-- Errors: RL404 unknown commission, RL409 not in a state that allows it, RL400 no reason.
create function public.decide_commission(p_company_id text, p_commission_id uuid, p_decision text, p_reason text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.commissions;
begin
  if coalesce(trim(p_reason), '') = '' then raise exception 'Give a reason' using errcode = 'RL400'; end if;
  select * into v from public.commissions where company_id = p_company_id and id = p_commission_id for update;
  if v.id is null or v.kind <> 'commission' then raise exception 'No such commission' using errcode = 'RL404'; end if;
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

-- ── Payouts ─────────────────────────────────────────────────────────────────

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

-- Start (or retry) paying a payout: requested | failed | processing → processing. A failed
-- payout (nothing was sent) takes the member's whole withdrawable balance again, clawbacks
-- included, under the same id. The amount is recomputed
-- from what is attached now (a refund may have reduced it). Returns what transfers.create
-- needs: {id, status:'processing', user_id, amount_cents, amount (decimal text), currency,
-- ledger_account_id}; or {id, status:'cancelled'} when refunds left nothing to pay.
-- Errors: RL404 unknown, RL409 completed/cancelled or another payout open, RL400 no
-- ledger account set.
create function public.start_payout(p_company_id text, p_payout_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v public.payouts;
  v_program public.programs;
  v_amount bigint;
begin
  select * into v_program from public.programs where company_id = p_company_id;
  select * into v from public.payouts where company_id = p_company_id and id = p_payout_id for update;
  if v.id is null then raise exception 'No such payout' using errcode = 'RL404'; end if;
  if v.status not in ('requested', 'failed', 'processing') then
    raise exception 'A % payout can''t be paid', v.status using errcode = 'RL409';
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

-- ── Points: items, redemptions, grants, expiry ─────────────────────────────

-- Creator adds a redeemable item. p_item: {name, cost_points, grant_type, grant_config}.
create function public.create_points_item(p_company_id text, p_item jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.points_items;
begin
  perform public.ensure_program(p_company_id);
  insert into public.points_items (company_id, name, cost_points, grant_type, grant_config)
  values (p_company_id, p_item->>'name', (p_item->>'cost_points')::integer, p_item->>'grant_type',
          coalesce(p_item->'grant_config', '{}'))
  returning * into v;
  return to_jsonb(v);
end $$;

-- Creator grants (p_delta > 0) or deducts (< 0) points by hand with a reason (ADMIN_GRANT).
-- p_member is a user id or the username of a known member (RL404 otherwise). A deduction
-- below zero is refused (RL400). Returns the new balance.
create function public.grant_points(p_company_id text, p_member text, p_delta bigint, p_reason text) returns bigint
language plpgsql security definer set search_path = '' as $$
declare v_user text;
begin
  if coalesce(trim(p_reason), '') = '' then raise exception 'Give a reason' using errcode = 'RL400'; end if;
  if p_delta = 0 then raise exception 'Grant or deduct at least one point' using errcode = 'RL400'; end if;
  select user_id into v_user from public.users
  where company_id = p_company_id and (user_id = trim(p_member) or lower(username) = lower(trim(p_member)))
  order by user_id = trim(p_member) desc limit 1;
  if v_user is null then raise exception 'No member "%" in this community', trim(p_member) using errcode = 'RL404'; end if;
  return public.add_points(p_company_id, v_user, p_delta, 'ADMIN_GRANT', 'admin', gen_random_uuid()::text, p_reason);
end $$;

-- A member redeems an item: spends its cost (REDEMPTION_<grant type>) and opens a pending
-- redemption. Refused when the balance would go negative (RL400) or the item is unknown or
-- inactive (RL404). Returns {redemption, item}.
create function public.redeem_points_item(p_company_id text, p_user_id text, p_item_id uuid) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_item public.points_items;
  v_red public.redemptions;
begin
  select * into v_item from public.points_items where company_id = p_company_id and id = p_item_id and is_active;
  if v_item.id is null then raise exception 'That reward is not available' using errcode = 'RL404'; end if;
  insert into public.redemptions (company_id, user_id, item_id, cost_points)
  values (p_company_id, p_user_id, v_item.id, v_item.cost_points) returning * into v_red;
  perform public.add_points(p_company_id, p_user_id, -v_item.cost_points, 'REDEMPTION_' || upper(v_item.grant_type),
    'redemption', v_red.id::text, v_item.name);
  return jsonb_build_object('redemption', to_jsonb(v_red), 'item', to_jsonb(v_item));
end $$;

-- Move a redemption on: pending → granted (with its result, e.g. a promo code) → claimed,
-- or pending → failed with the error, which gives the points back (REDEMPTION_REFUND).
create function public.settle_redemption(p_company_id text, p_redemption_id uuid, p_status text, p_result jsonb, p_error text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.redemptions;
begin
  select * into v from public.redemptions where company_id = p_company_id and id = p_redemption_id for update;
  if v.id is null then raise exception 'No such redemption' using errcode = 'RL404'; end if;
  if not ((v.status = 'pending' and p_status in ('granted', 'failed')) or (v.status = 'granted' and p_status = 'claimed')) then
    raise exception 'A % redemption can''t become %', v.status, p_status using errcode = 'RL409';
  end if;
  update public.redemptions set status = p_status, result = coalesce(p_result, result), error = p_error, updated_at = now()
  where id = v.id returning * into v;
  if p_status = 'failed' then
    perform public.add_points(p_company_id, v.user_id, v.cost_points, 'REDEMPTION_REFUND', 'redemption', v.id::text, p_error);
  end if;
  return to_jsonb(v);
end $$;

-- Job: expire points older than points_expiry_days (programs where it is set). Spending
-- uses the oldest points first, so a member loses what they earned before the cutoff
-- minus everything spent or expired so far. Idempotent; returns points expired.
create function public.expire_points() returns bigint
language plpgsql security definer set search_path = '' as $$
declare
  r record;
  v_total bigint := 0;
begin
  for r in
    select t.company_id, t.user_id,
      coalesce(sum(t.points) filter (where t.points > 0 and t.created_at < now() - make_interval(days => p.points_expiry_days)), 0)
        + coalesce(sum(t.points) filter (where t.points < 0), 0) as due
    from public.transactions t join public.programs p on p.company_id = t.company_id
    where t.kind = 'points' and p.points_expiry_days is not null
    group by t.company_id, t.user_id
  loop
    if r.due > 0 then
      perform public.add_points(r.company_id, r.user_id, (-r.due)::bigint, 'EXPIRY', 'expiry', gen_random_uuid()::text, 'points expired');
      v_total := v_total + r.due;
    end if;
  end loop;
  return v_total;
end $$;

-- Job: pending referrals past their attribution window → expired. Returns the count.
create function public.expire_referrals() returns integer
language plpgsql security definer set search_path = '' as $$
declare v integer;
begin
  update public.referrals set status = 'expired', updated_at = now() where status = 'pending' and expires_at < now();
  get diagnostics v = row_count;
  return v;
end $$;

-- The ledger stays append-only against TRUNCATE too.
create trigger transactions_no_truncate before truncate on public.transactions
  for each statement execute function public.forbid_ledger_change();

-- ── Reads ───────────────────────────────────────────────────────────────────

-- Earnings of one member per currency, integer minor units, net of reversals (seed 004):
-- total = pending + available + paid; pending_earnings = pending + available (not yet
-- paid, clawbacks included); paid = paid. on_hold, reversed and cancelled count nowhere.
create function public.get_user_referral_earnings(p_company_id text, p_user_id text)
returns table (currency text, total_earnings bigint, pending_earnings bigint, paid_earnings bigint)
language sql stable security definer set search_path = '' as $$
  select c.currency,
    coalesce(sum(c.amount_cents - c.reversed_cents) filter (where c.status in ('pending', 'available', 'paid')), 0)::bigint,
    coalesce(sum(c.amount_cents - c.reversed_cents) filter (where c.status in ('pending', 'available')), 0)::bigint,
    coalesce(sum(c.amount_cents - c.reversed_cents) filter (where c.status = 'paid'), 0)::bigint
  from public.commissions c
  where c.company_id = p_company_id and c.beneficiary_user_id = p_user_id
  group by c.currency
  order by c.currency
$$;

-- The member's money and points beyond get_member_view: {balances:{pending, available,
-- paid, reversed, on_hold} (program currency, cents), upcoming:[{amount_cents,
-- available_at}] (pending commissions and when each becomes available), payout:{can_request,
-- reason, min_payout_cents, open}, payouts:[…], points:{balance, history:[…]}, items:[…],
-- redemptions:[…]}.
create function public.get_member_wallet(p_company_id text, p_user_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_available bigint;
  v_open public.payouts;
  v_reason text;
begin
  v_program := public.ensure_program(p_company_id);
  v_available := public.available_balance(p_company_id, p_user_id);
  select * into v_open from public.payouts where company_id = p_company_id and user_id = p_user_id
    and status in ('requested', 'processing');
  v_reason := case
    when v_open.id is not null then 'You have a payout in progress'
    when v_available < 0 then 'Your balance is negative after a refund'
    when v_available < v_program.min_payout_cents then 'Below the minimum payout'
  end;
  return jsonb_build_object(
    'currency', v_program.currency,
    'balances', (
      select jsonb_build_object(
        'pending', coalesce(sum(amount_cents - reversed_cents) filter (where status = 'pending'), 0),
        'available', coalesce(sum(amount_cents - reversed_cents) filter (where status = 'available'), 0),
        'paid', coalesce(sum(amount_cents - reversed_cents) filter (where status = 'paid'), 0),
        'on_hold', coalesce(sum(amount_cents - reversed_cents) filter (where status = 'on_hold'), 0),
        -- taken back by refunds and disputes: reductions plus clawbacks
        'reversed', coalesce(sum(reversed_cents), 0) - coalesce(sum(amount_cents) filter (where kind = 'clawback'), 0))
      from public.commissions
      where company_id = p_company_id and beneficiary_user_id = p_user_id and currency = v_program.currency),
    'upcoming', coalesce((
      select jsonb_agg(jsonb_build_object('amount_cents', amount_cents - reversed_cents, 'available_at', available_at)
        order by available_at)
      from public.commissions where company_id = p_company_id and beneficiary_user_id = p_user_id and status = 'pending'), '[]'),
    'payout', jsonb_build_object('can_request', v_reason is null, 'reason', v_reason,
      'available_cents', v_available, 'min_payout_cents', v_program.min_payout_cents),
    'payouts', coalesce((
      select jsonb_agg(jsonb_build_object('id', id, 'amount_cents', amount_cents, 'currency', currency, 'status', status,
        'requested_at', requested_at, 'completed_at', completed_at, 'error', error) order by requested_at desc)
      from public.payouts where company_id = p_company_id and user_id = p_user_id), '[]'),
    'points', jsonb_build_object(
      'balance', coalesce((select balance from public.points_balances where company_id = p_company_id and user_id = p_user_id), 0),
      'history', coalesce((
        select jsonb_agg(jsonb_build_object('points', points, 'type', points_type, 'memo', memo, 'created_at', created_at)
          order by created_at desc, id desc)
        from (select * from public.transactions where company_id = p_company_id and user_id = p_user_id and kind = 'points'
              order by created_at desc, id desc limit 50) t), '[]')),
    'items', coalesce((
      select jsonb_agg(jsonb_build_object('id', id, 'name', name, 'cost_points', cost_points, 'grant_type', grant_type)
        order by cost_points)
      from public.points_items where company_id = p_company_id and is_active), '[]'),
    'redemptions', coalesce((
      select jsonb_agg(jsonb_build_object('id', r.id, 'item', i.name, 'cost_points', r.cost_points, 'status', r.status,
        'result', r.result, 'error', r.error, 'created_at', r.created_at) order by r.created_at desc)
      from public.redemptions r join public.points_items i on i.id = r.item_id
      where r.company_id = p_company_id and r.user_id = p_user_id), '[]'));
end $$;

-- Commissions for the creator, newest first, filtered by p_filter {status, level,
-- member (user id or username), from, to (dates)}; at most 500 rows.
create function public.list_commissions(p_company_id text, p_filter jsonb) returns jsonb
language sql stable security definer set search_path = '' as $$
  select coalesce(jsonb_agg(x order by x->>'created_at' desc), '[]') from (
    select jsonb_build_object('id', c.id, 'beneficiary', coalesce(u.username, c.beneficiary_user_id),
      'beneficiary_user_id', c.beneficiary_user_id, 'payment_id', c.payment_id, 'level', c.level, 'kind', c.kind,
      'base_amount_cents', c.base_amount_cents, 'rate_bp', c.rate_bp, 'amount_cents', c.amount_cents,
      'reversed_cents', c.reversed_cents, 'currency', c.currency, 'status', c.status, 'reason', c.reason,
      'available_at', c.available_at, 'created_at', c.created_at) as x
    from public.commissions c
    left join public.users u on u.company_id = c.company_id and u.user_id = c.beneficiary_user_id
    where c.company_id = p_company_id
      and (p_filter->>'status' is null or c.status = p_filter->>'status')
      and (p_filter->>'level' is null or c.level = (p_filter->>'level')::integer)
      and (p_filter->>'member' is null or c.beneficiary_user_id = p_filter->>'member' or u.username = p_filter->>'member')
      and (p_filter->>'from' is null or c.created_at >= (p_filter->>'from')::date)
      and (p_filter->>'to' is null or c.created_at < (p_filter->>'to')::date + 1)
    order by c.created_at desc limit 500) s
$$;

-- The creator's payout queue (open first, then history), points items, and custom
-- redemptions to fulfil.
create function public.get_creator_money(p_company_id text) returns jsonb
language sql stable security definer set search_path = '' as $$
  select jsonb_build_object(
    'payouts', coalesce((
      select jsonb_agg(jsonb_build_object('id', o.id, 'user_id', o.user_id, 'member', coalesce(u.username, o.user_id),
        'amount_cents', o.amount_cents, 'currency', o.currency, 'status', o.status, 'error', o.error,
        'whop_transfer_id', o.whop_transfer_id, 'attempts', o.attempts, 'requested_at', o.requested_at)
        order by (o.status in ('requested', 'processing', 'failed')) desc, o.requested_at desc)
      from public.payouts o left join public.users u on u.company_id = o.company_id and u.user_id = o.user_id
      where o.company_id = p_company_id), '[]'),
    'items', coalesce((
      select jsonb_agg(to_jsonb(i) order by i.cost_points) from public.points_items i
      where i.company_id = p_company_id and i.is_active), '[]'),
    -- custom rewards waiting for the creator to fulfil them
    'redemptions', coalesce((
      select jsonb_agg(jsonb_build_object('id', r.id, 'member', coalesce(u.username, r.user_id), 'item', i.name,
        'note', i.grant_config->>'note', 'created_at', r.created_at) order by r.created_at)
      from public.redemptions r join public.points_items i on i.id = r.item_id
      left join public.users u on u.company_id = r.company_id and u.user_id = r.user_id
      where r.company_id = p_company_id and r.status = 'pending' and i.grant_type = 'custom'), '[]'))
$$;

-- Save program settings; every key optional —
-- name, commission_rate_bp, hold_days, min_payout_cents, attribution_window_days,
-- recurring_months, plan_id, landing_url, mlm_enabled, max_level, upper_level_rates_bp
-- (4 integers), level2_months, commission_type, flat_amount_cents, product_rates_bp,
-- payout_mode, payout_frequency, ledger_account_id, points_welcome, points_first_payment,
-- points_recurring, points_l2, points_recurring_months, points_expiry_days (null = off).
-- Invalid values raise a check violation (23514) and nothing is written.
create function public.update_program_settings(p_company_id text, p_settings jsonb) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare v public.programs;
begin
  perform public.ensure_program(p_company_id);
  update public.programs p set
    name = coalesce(p_settings->>'name', p.name),
    commission_rate_bp = coalesce((p_settings->>'commission_rate_bp')::integer, p.commission_rate_bp),
    hold_days = coalesce((p_settings->>'hold_days')::integer, p.hold_days),
    min_payout_cents = coalesce((p_settings->>'min_payout_cents')::bigint, p.min_payout_cents),
    attribution_window_days = coalesce((p_settings->>'attribution_window_days')::integer, p.attribution_window_days),
    recurring_months = coalesce((p_settings->>'recurring_months')::integer, p.recurring_months),
    plan_id = case when p_settings ? 'plan_id' then nullif(p_settings->>'plan_id', '') else p.plan_id end,
    landing_url = case when p_settings ? 'landing_url' then nullif(p_settings->>'landing_url', '') else p.landing_url end,
    mlm_enabled = coalesce((p_settings->>'mlm_enabled')::boolean, p.mlm_enabled),
    max_level = coalesce((p_settings->>'max_level')::integer, p.max_level),
    upper_level_rates_bp = coalesce((select array_agg(e::integer) from jsonb_array_elements_text(p_settings->'upper_level_rates_bp') e),
                                    p.upper_level_rates_bp),
    level2_months = coalesce((p_settings->>'level2_months')::integer, p.level2_months),
    commission_type = coalesce(p_settings->>'commission_type', p.commission_type),
    flat_amount_cents = coalesce((p_settings->>'flat_amount_cents')::bigint, p.flat_amount_cents),
    product_rates_bp = coalesce(p_settings->'product_rates_bp', p.product_rates_bp),
    payout_mode = coalesce(p_settings->>'payout_mode', p.payout_mode),
    payout_frequency = coalesce(p_settings->>'payout_frequency', p.payout_frequency),
    ledger_account_id = case when p_settings ? 'ledger_account_id' then nullif(p_settings->>'ledger_account_id', '') else p.ledger_account_id end,
    points_welcome = coalesce((p_settings->>'points_welcome')::integer, p.points_welcome),
    points_first_payment = coalesce((p_settings->>'points_first_payment')::integer, p.points_first_payment),
    points_recurring = coalesce((p_settings->>'points_recurring')::integer, p.points_recurring),
    points_l2 = coalesce((p_settings->>'points_l2')::integer, p.points_l2),
    points_recurring_months = coalesce((p_settings->>'points_recurring_months')::integer, p.points_recurring_months),
    points_expiry_days = case when p_settings ? 'points_expiry_days' then (p_settings->>'points_expiry_days')::integer else p.points_expiry_days end,
    updated_at = now()
  where p.company_id = p_company_id
  returning * into v;
  return to_jsonb(v);
end $$;

-- Everything the creator dashboard shows: {program, totals:{clicks, signups, conversions},
-- money:[{currency, revenue_cents, commissions_owed_cents, commissions_paid_cents}],
-- referrals:[…latest 200], commissions:[…latest 200]}. Owed = pending + available + on_hold,
-- net of reversals.
create function public.get_creator_view(p_company_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
begin
  return jsonb_build_object(
    'program', to_jsonb(public.ensure_program(p_company_id)),
    'totals', jsonb_build_object(
      'clicks', (select count(*) from public.referral_clicks where company_id = p_company_id and counted),
      'signups', (select count(*) from public.referrals where company_id = p_company_id and status <> 'cancelled'),
      'conversions', (select count(*) from public.referrals where company_id = p_company_id and status = 'converted')),
    'money', coalesce((
      select jsonb_agg(jsonb_build_object('currency', m.currency, 'revenue_cents', m.revenue,
        'commissions_owed_cents', m.owed, 'commissions_paid_cents', m.paid) order by m.currency)
      from (
        select cur.currency,
          (select coalesce(sum(p.amount_cents), 0) from public.payments p
           where p.company_id = p_company_id and p.currency = cur.currency and p.referral_id is not null) as revenue,
          (select coalesce(sum(c.amount_cents - c.reversed_cents), 0) from public.commissions c
           where c.company_id = p_company_id and c.currency = cur.currency and c.status in ('pending', 'available', 'on_hold')) as owed,
          (select coalesce(sum(c.amount_cents - c.reversed_cents), 0) from public.commissions c
           where c.company_id = p_company_id and c.currency = cur.currency and c.status = 'paid') as paid
        from (select currency from public.payments where company_id = p_company_id and referral_id is not null
              union select currency from public.commissions where company_id = p_company_id) cur
      ) m), '[]'::jsonb),
    'referrals', coalesce((
      select jsonb_agg(x order by x->>'created_at' desc) from (
        select jsonb_build_object('id', r.id, 'referrer', coalesce(ur.username, r.referrer_user_id),
          'referee', coalesce(ue.username, r.referee_user_id), 'status', r.status, 'source', r.source,
          'created_at', r.created_at, 'converted_at', r.converted_at) as x
        from public.referrals r
        left join public.users ur on ur.company_id = r.company_id and ur.user_id = r.referrer_user_id
        left join public.users ue on ue.company_id = r.company_id and ue.user_id = r.referee_user_id
        where r.company_id = p_company_id order by r.created_at desc limit 200) s), '[]'::jsonb),
    'commissions', coalesce((
      select jsonb_agg(x order by x->>'created_at' desc) from (
        select jsonb_build_object('id', c.id, 'beneficiary', coalesce(u.username, c.beneficiary_user_id),
          'payment_id', c.payment_id, 'level', c.level, 'base_amount_cents', c.base_amount_cents,
          'rate_bp', c.rate_bp, 'amount_cents', c.amount_cents, 'reversed_cents', c.reversed_cents, 'kind', c.kind, 'currency', c.currency,
          'status', c.status, 'available_at', c.available_at, 'created_at', c.created_at) as x
        from public.commissions c
        left join public.users u on u.company_id = c.company_id and u.user_id = c.beneficiary_user_id
        where c.company_id = p_company_id order by c.created_at desc limit 200) s), '[]'::jsonb));
end $$;

-- ── Grants for the new functions ───────────────────────────────────────────
revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
