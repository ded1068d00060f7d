-- Points: points_balances (the cached balance; every movement is a 'points' row of the
-- transactions ledger), points_items (the points shop) and redemptions. Order: tables,
-- indexes, functions (add_points first: every points movement goes through it). No
-- triggers.

-- ── Tables ──────────────────────────────────────────────────────────────────

create table public.points_balances (
  company_id text not null,
  user_id text not null,
  balance bigint not null default 0 check (balance >= 0),
  total_earned bigint not null default 0,
  total_spent bigint not null default 0,
  updated_at timestamptz not null default now(),
  primary key (company_id, user_id)
);

alter table public.points_balances enable row level security;

create table public.points_items (
  id uuid primary key default gen_random_uuid(),
  company_id text not null references public.programs(company_id),
  name text not null check (length(name) between 1 and 80),
  cost_points integer not null check (cost_points > 0),
  grant_type text not null check (grant_type in ('discount', 'product_unlock', 'custom')),
  -- the rewards' vocabulary: discount: {percent_off, plan_id?}; product_unlock: {plan_id}; custom: {note}
  grant_config jsonb not null default '{}',
  is_active boolean not null default true,
  created_at timestamptz not null default now()
);

alter table public.points_items enable row level security;

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

alter table public.redemptions enable row level security;

-- ── Indexes ─────────────────────────────────────────────────────────────────

create index redemptions_member_idx on public.redemptions (company_id, user_id, created_at);

-- ── Functions ───────────────────────────────────────────────────────────────

-- Add p_delta points (negative = spend) as one ledger row and update the balance cache in
-- the same transaction. Refuses (RL400) to take the balance below zero. Returns the new
-- balance. p_type is a transactions.points_type (REFERRAL_*, REDEMPTION_*, ADMIN_GRANT,
-- EXPIRY, …).
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

-- The Rewards section for the creator: active items, and custom redemptions waiting to be
-- fulfilled (oldest first, at most 50).
create function public.get_rewards_admin(p_company_id text) returns jsonb
language sql stable security definer set search_path = '' as $$
  select jsonb_build_object(
    'items', coalesce((select jsonb_agg(to_jsonb(i) order by i.cost_points) from public.points_items i
      where i.company_id = p_company_id and i.is_active), '[]'),
    'redemptions', coalesce((
      select jsonb_agg(jsonb_build_object('id', r.id, 'member', coalesce(u.username, r.user_id), 'item', i.name,
        'note', i.grant_config->>'note', 'created_at', r.created_at) order by r.created_at)
      from (select * from public.redemptions where company_id = p_company_id and status = 'pending'
            order by created_at limit 50) r
      join public.points_items i on i.id = r.item_id and i.grant_type = 'custom'
      left join public.users u on u.company_id = r.company_id and u.user_id = r.user_id), '[]'))
$$;

-- Creator grants (p_delta > 0) or deducts (< 0) points by hand with a reason (ADMIN_GRANT);
-- p_member is a user id or a username (resolve_member). RL404 unknown member; RL400 no
-- reason, zero, or a deduction below zero. Returns the new balance.
create function public.grant_points(p_company_id text, p_member text, p_delta bigint, p_reason text) returns bigint
language plpgsql security definer set search_path = '' as $$
declare v_user text;
begin
  if coalesce(trim(p_reason), '') = '' then raise exception 'Give a reason' using errcode = 'RL400'; end if;
  if p_delta = 0 then raise exception 'Grant or deduct at least one point' using errcode = 'RL400'; end if;
  v_user := public.resolve_member(p_company_id, p_member);
  if v_user is null then raise exception 'No member "%" in this community', trim(p_member) using errcode = 'RL404'; end if;
  return public.add_points(p_company_id, v_user, p_delta, 'ADMIN_GRANT', 'admin', gen_random_uuid()::text, p_reason);
end $$;

-- The points one attributed payment earns, windows measured from the referral's conversion
-- to the payment's own time: REFERRAL_WELCOME to the referee
-- and REFERRAL_FIRST_PAYMENT to the referrer on the converting payment (p_first);
-- REFERRAL_RECURRING to the referrer on renewals within points_recurring_months;
-- REFERRAL_L2 to the referrer's referrer within level2_months; on the converting payment,
-- the campaign's bonus_points to the referrer (CAMPAIGN_BONUS), so a held referral's bonus
-- waits for approval like its other points. Each at most once per payment
-- (transactions_points_once), so granting again after a fraud approval is safe.
create function public.award_payment_points(p_company_id text, p_payment_id text, p_first boolean) returns void
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_payment public.payments;
  v_ref public.referrals;
  v_upline text;
  v_bonus bigint;
begin
  select * into v_program from public.programs where company_id = p_company_id;
  select * into v_payment from public.payments where company_id = p_company_id and payment_id = p_payment_id;
  select * into v_ref from public.referrals where id = v_payment.referral_id;
  if v_ref.id is null then return; end if;
  if p_first then
    perform public.add_points(p_company_id, v_payment.user_id, v_program.points_welcome, 'REFERRAL_WELCOME', 'payment', p_payment_id, null);
    perform public.add_points(p_company_id, v_ref.referrer_user_id, v_program.points_first_payment, 'REFERRAL_FIRST_PAYMENT', 'payment', p_payment_id, null);
  elsif v_payment.created_at <= v_ref.converted_at + make_interval(months => v_program.points_recurring_months) then
    perform public.add_points(p_company_id, v_ref.referrer_user_id, v_program.points_recurring, 'REFERRAL_RECURRING', 'payment', p_payment_id, null);
  end if;
  v_upline := public.referrer_of(p_company_id, v_ref.referrer_user_id);
  if v_upline is not null and v_payment.created_at <= v_ref.converted_at + make_interval(months => v_program.level2_months) then
    perform public.add_points(p_company_id, v_upline, v_program.points_l2, 'REFERRAL_L2', 'payment', p_payment_id, null);
  end if;
  if p_first and v_ref.campaign_id is not null then
    select coalesce((rules->>'bonus_points')::bigint, 0) into v_bonus from public.campaigns where id = v_ref.campaign_id;
    if v_bonus > 0 then
      perform public.add_points(p_company_id, v_ref.referrer_user_id, v_bonus, 'CAMPAIGN_BONUS', 'payment', p_payment_id,
        (select name from public.campaigns where id = v_ref.campaign_id));
    end if;
  end if;
end $$;
