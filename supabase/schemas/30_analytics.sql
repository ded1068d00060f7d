-- Analytics: the rollups, kept by triggers in the same transaction as their source rows
-- (referral_stats, member_money, daily_stats, daily_sources, member_daily, referrer_gaps,
-- referrer_gaps_month, referral_plan_stats); their check and rebuild (check_analytics,
-- rebuild_analytics, repair_analytics); the pages' reads (get_overview, get_member_view,
-- list_members, …). Order: tables, indexes, functions, then the triggers last (they need
-- their functions). See docs/architecture.md "Counters and rollups".

-- ── Tables ──────────────────────────────────────────────────────────────────

-- Per member: everyone with a code or a referral has a row.
--   clicks       counted clicks on their code
--   signups      their referrals that joined (membership or first payment), not cancelled
--   conversions  their converted referrals; active_referrals: converted and not deactivated
create table public.referral_stats (
  company_id text not null,
  user_id text not null,
  clicks bigint not null default 0,
  signups bigint not null default 0,
  conversions bigint not null default 0,
  active_referrals bigint not null default 0,
  primary key (company_id, user_id)
);

alter table public.referral_stats enable row level security;

-- Per member and currency: commission balances by status (net of reversals, cents),
-- the same buckets as get_member_wallet, and revenue attributed to them (gross cents).
--   available_cents   available and not in a payout (what request_payout takes)
--   in_payout_cents   available and attached to a requested/processing payout
--   reversed_cents    taken back by refunds and disputes (reductions + clawbacks)
--   earned_cents      total = pending + available (in a payout too) + paid; on_hold excluded
create table public.member_money (
  company_id text not null,
  user_id text not null,
  currency text not null,
  pending_cents bigint not null default 0,
  available_cents bigint not null default 0,
  in_payout_cents bigint not null default 0,
  on_hold_cents bigint not null default 0,
  paid_cents bigint not null default 0,
  reversed_cents bigint not null default 0,
  commissions bigint not null default 0,
  revenue_cents bigint not null default 0,
  earned_cents bigint generated always as (pending_cents + available_cents + in_payout_cents + paid_cents) stored,
  primary key (company_id, user_id, currency)
);

alter table public.member_money enable row level security;

-- Per company and local day (program currency): the Overview's series and KPIs.
--   commissions_cents  net commission movement that day (ledger: commission, reversal,
--                      clawback, cancellation); paid_cents: payouts completed that day.
--   Owed now = Σ commissions_cents − Σ paid_cents over all days.
create table public.daily_stats (
  company_id text not null,
  day date not null,
  clicks bigint not null default 0,
  signups bigint not null default 0,
  conversions bigint not null default 0,
  revenue_cents bigint not null default 0,
  commissions_cents bigint not null default 0,
  paid_cents bigint not null default 0,
  primary key (company_id, day)
);

alter table public.daily_stats enable row level security;

-- Counted clicks per company, local day and traffic source (referrer domain) or country.
create table public.daily_sources (
  company_id text not null,
  dimension text not null check (dimension in ('domain', 'country')),
  day date not null,
  value text not null,
  clicks bigint not null default 0,
  primary key (company_id, dimension, day, value)
);

alter table public.daily_sources enable row level security;

-- Per member and local day (program currency): the member's own chart, what they earned
-- this month, and referrers active in a period.
create table public.member_daily (
  company_id text not null,
  user_id text not null,
  day date not null,
  clicks bigint not null default 0,
  signups bigint not null default 0,
  conversions bigint not null default 0,
  revenue_cents bigint not null default 0,
  commissions_cents bigint not null default 0,
  primary key (company_id, user_id, day)
);

alter table public.member_daily enable row level security;

-- Per company: how many members have a converting local day `day` whose previous
-- converting day was `prev_day` (kept by bump_daily); active_referrers reads it.
create table public.referrer_gaps (
  company_id text not null,
  day date not null,
  prev_day date not null,          -- '-infinity' for a member's first converting day
  n bigint not null,               -- members whose converting day `day` follows `prev_day`
  primary key (company_id, day, prev_day) include (n)
);

alter table public.referrer_gaps enable row level security;

-- the same gaps summed by the month of prev_day ('-infinity' stays '-infinity')
create table public.referrer_gaps_month (
  company_id text not null,
  day date not null,
  prev_month date not null,
  n bigint not null,
  primary key (company_id, day, prev_month) include (n)
);

alter table public.referrer_gaps_month enable row level security;

-- Per member and plan bought (referrals.plan_id): their conversions and active referrals.
create table public.referral_plan_stats (
  company_id text not null,
  user_id text not null,
  plan_id text not null,
  conversions bigint not null default 0,
  active_referrals bigint not null default 0,
  primary key (company_id, user_id, plan_id)
);

alter table public.referral_plan_stats enable row level security;

-- ── Indexes ─────────────────────────────────────────────────────────────────

-- one index per sortable column of the members list (keyset: value, then user id)
create index referral_stats_conversions_idx on public.referral_stats (company_id, conversions, user_id);

create index referral_stats_clicks_idx on public.referral_stats (company_id, clicks, user_id);

create index referral_stats_signups_idx on public.referral_stats (company_id, signups, user_id);

create index referral_stats_active_idx on public.referral_stats (company_id, active_referrals, user_id);

create index member_money_revenue_idx on public.member_money (company_id, currency, revenue_cents, user_id);

create index member_money_earned_idx on public.member_money (company_id, currency, earned_cents, user_id);

create index member_money_paid_idx on public.member_money (company_id, currency, paid_cents, user_id);

create index member_money_available_idx on public.member_money (company_id, currency, available_cents, user_id);

-- ── Functions ───────────────────────────────────────────────────────────────

-- The traffic source of a click: the referrer URL's host, lower case, without "www.";
-- '(direct)' when there is none.
create function public.referrer_domain(p_url text) returns text
language sql immutable set search_path = '' as $$
  select coalesce(left(regexp_replace(lower(substring(p_url from '^[A-Za-z][A-Za-z0-9+.-]*://(?:[^@/?#]*@)?([^/:?#]+)')),
    '^www\.', ''), 100), '(direct)')
$$;

-- Make sure a member has their stats rows (referral_stats, and member_money in the
-- program currency), so every member shows in the members list and its sorts.
create function public.touch_member_stats(p_company_id text, p_user_id text) returns void
language sql set search_path = '' as $$
  insert into public.referral_stats (company_id, user_id) values (p_company_id, p_user_id) on conflict do nothing;
  insert into public.member_money (company_id, user_id, currency)
  values (p_company_id, p_user_id, public.program_currency(p_company_id)) on conflict do nothing;
$$;

-- What one referral adds to its referrer's counters (p_sign = 1) or takes back (-1):
-- a signup when it joined (signed_up_at, or its first payment) and is not cancelled, on
-- that day; a conversion when converted, on converted_at's day; active while converted
-- and not deactivated.
create function public.apply_referral_stats(r public.referrals, p_sign integer) returns void
language plpgsql set search_path = '' as $$
declare
  v_signup integer := case when r.status <> 'cancelled' and coalesce(r.signed_up_at, r.converted_at) is not null then 1 else 0 end;
  v_conv integer := case when r.status = 'converted' then 1 else 0 end;
  v_active integer := case when r.status = 'converted' and r.deactivated_at is null then 1 else 0 end;
begin
  if v_signup + v_conv + v_active = 0 then return; end if;
  update public.referral_stats set signups = signups + p_sign * v_signup, conversions = conversions + p_sign * v_conv,
    active_referrals = active_referrals + p_sign * v_active
  where company_id = r.company_id and user_id = r.referrer_user_id;
  if v_signup = 1 then
    perform public.bump_daily(r.company_id, r.referrer_user_id, public.local_day(r.company_id, coalesce(r.signed_up_at, r.converted_at)),
      0, p_sign, 0, 0, 0, 0);
  end if;
  if v_conv = 1 then
    perform public.bump_daily(r.company_id, r.referrer_user_id, public.local_day(r.company_id, r.converted_at), 0, 0, p_sign, 0, 0, 0);
  end if;
end $$;

create function public.trg_payments_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op in ('UPDATE', 'DELETE') and (tg_op = 'DELETE' or (old.referral_id, old.amount_cents) is distinct from (new.referral_id, new.amount_cents)) then
    perform public.apply_payment_stats(old, -1);
  end if;
  if tg_op = 'INSERT' or (tg_op = 'UPDATE' and (old.referral_id, old.amount_cents) is distinct from (new.referral_id, new.amount_cents)) then
    perform public.apply_payment_stats(new, 1);
  end if;
  return null;
end $$;

create function public.trg_commissions_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op = 'INSERT' then
    perform public.apply_commission_stats(new, 1);
  elsif tg_op = 'UPDATE' then
    if (old.status, old.amount_cents, old.reversed_cents, old.payout_id is null, old.beneficiary_user_id, old.currency)
       is distinct from (new.status, new.amount_cents, new.reversed_cents, new.payout_id is null, new.beneficiary_user_id, new.currency) then
      perform public.apply_commission_stats(old, -1);
      perform public.apply_commission_stats(new, 1);
    end if;
  else
    perform public.apply_commission_stats(old, -1);
  end if;
  return null;
end $$;

-- Expected referral_stats of a company: one row per member with a code or a referral.
create function public.analytics_expected_referral_stats(p_company_id text) returns setof public.referral_stats
language sql stable set search_path = '' as $$
  with members as (
    select user_id from public.referral_codes where company_id = p_company_id
    union select referrer_user_id from public.referrals where company_id = p_company_id
    union select referee_user_id from public.referrals where company_id = p_company_id),
  clicks as (
    select c.user_id, count(*) as n from public.referral_clicks k join public.referral_codes c on c.id = k.code_id
    where k.company_id = p_company_id and k.counted group by c.user_id),
  refs as (
    select referrer_user_id as user_id,
      count(*) filter (where status <> 'cancelled' and coalesce(signed_up_at, converted_at) is not null) as signups,
      count(*) filter (where status = 'converted') as conversions,
      count(*) filter (where status = 'converted' and deactivated_at is null) as active
    from public.referrals where company_id = p_company_id group by referrer_user_id)
  select p_company_id, m.user_id, coalesce(k.n, 0), coalesce(r.signups, 0), coalesce(r.conversions, 0), coalesce(r.active, 0)
  from members m left join clicks k on k.user_id = m.user_id left join refs r on r.user_id = m.user_id
$$;

-- Expected member_money of a company (earned_cents is generated from the buckets).
create function public.analytics_expected_member_money(p_company_id text) returns setof public.member_money
language sql stable set search_path = '' as $$
  select p_company_id, user_id, currency, sum(pending)::bigint, sum(available)::bigint, sum(in_payout)::bigint,
    sum(on_hold)::bigint, sum(paid)::bigint, sum(reversed)::bigint, sum(n)::bigint, sum(revenue)::bigint,
    sum(pending + available + in_payout + paid)::bigint
  from (
    select s.user_id, public.program_currency(p_company_id) as currency, 0 as pending, 0 as available, 0 as in_payout,
      0 as on_hold, 0 as paid, 0 as reversed, 0 as n, 0 as revenue
    from public.analytics_expected_referral_stats(p_company_id) s
    union all
    select c.beneficiary_user_id, c.currency,
      case when c.status = 'pending' then c.amount_cents - c.reversed_cents else 0 end,
      case when c.status = 'available' and c.payout_id is null then c.amount_cents - c.reversed_cents else 0 end,
      case when c.status = 'available' and c.payout_id is not null then c.amount_cents - c.reversed_cents else 0 end,
      case when c.status = 'on_hold' then c.amount_cents - c.reversed_cents else 0 end,
      case when c.status = 'paid' then c.amount_cents - c.reversed_cents else 0 end,
      case when c.kind = 'clawback' then -c.amount_cents else c.reversed_cents end, 1, 0
    from public.commissions c where c.company_id = p_company_id
    union all
    select r.referrer_user_id, p.currency, 0, 0, 0, 0, 0, 0, 0, p.amount_cents
    from public.payments p join public.referrals r on r.id = p.referral_id
    where p.company_id = p_company_id and p.referral_id is not null
  ) x group by user_id, currency
$$;

-- Expected member_daily of a company (null user = company-only rows, see daily_stats).
create function public.analytics_expected_daily(p_company_id text)
returns table (user_id text, day date, clicks bigint, signups bigint, conversions bigint, revenue_cents bigint,
  commissions_cents bigint, paid_cents bigint)
language sql stable set search_path = '' as $$
  with prog as (select timezone as tz, currency from public.programs where company_id = p_company_id)
  select user_id, day, sum(clicks)::bigint, sum(signups)::bigint, sum(conversions)::bigint, sum(revenue)::bigint,
    sum(commissions)::bigint, sum(paid)::bigint
  from (
    select c.user_id, (k.created_at at time zone prog.tz)::date as day, 1 as clicks, 0 as signups, 0 as conversions,
      0::bigint as revenue, 0::bigint as commissions, 0::bigint as paid
    from public.referral_clicks k join public.referral_codes c on c.id = k.code_id, prog
    where k.company_id = p_company_id and k.counted
    union all
    select r.referrer_user_id, (coalesce(r.signed_up_at, r.converted_at) at time zone prog.tz)::date, 0, 1, 0, 0, 0, 0
    from public.referrals r, prog
    where r.company_id = p_company_id and r.status <> 'cancelled' and coalesce(r.signed_up_at, r.converted_at) is not null
    union all
    select r.referrer_user_id, (r.converted_at at time zone prog.tz)::date, 0, 0, 1, 0, 0, 0
    from public.referrals r, prog where r.company_id = p_company_id and r.status = 'converted'
    union all
    select r.referrer_user_id, (p.created_at at time zone prog.tz)::date, 0, 0, 0, p.amount_cents, 0, 0
    from public.payments p join public.referrals r on r.id = p.referral_id, prog
    where p.company_id = p_company_id and p.currency = prog.currency
    union all
    select case when t.kind = 'payout' then null else t.user_id end, (t.created_at at time zone prog.tz)::date, 0, 0, 0, 0,
      case when t.kind = 'payout' then 0 else t.amount_cents end, case when t.kind = 'payout' then -t.amount_cents else 0 end
    from public.transactions t, prog
    where t.company_id = p_company_id and t.currency = prog.currency and t.amount_cents <> 0
      and t.kind in ('commission', 'reversal', 'clawback', 'cancellation', 'payout')
  ) x group by user_id, day
$$;

-- Expected daily_sources of a company.
create function public.analytics_expected_sources(p_company_id text) returns setof public.daily_sources
language sql stable set search_path = '' as $$
  with prog as (select timezone as tz from public.programs where company_id = p_company_id)
  select p_company_id, dimension, day, value, count(*)::bigint from (
    select 'domain' as dimension, (k.created_at at time zone prog.tz)::date as day, public.referrer_domain(k.referrer_url) as value
    from public.referral_clicks k, prog where k.company_id = p_company_id and k.counted
    union all
    select 'country', (k.created_at at time zone prog.tz)::date, coalesce(k.country, '??')
    from public.referral_clicks k, prog where k.company_id = p_company_id and k.counted
  ) x group by dimension, day, value
$$;

-- Job: check every company's rollups and rebuild those that drifted. Returns
-- {checked, repaired:[company ids]}.
create function public.repair_analytics() returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  p record;
  v_repaired text[] := '{}';
  v_checked integer := 0;
begin
  for p in select company_id from public.programs order by company_id loop
    v_checked := v_checked + 1;
    if not (public.check_analytics(p.company_id)->>'ok')::boolean then
      perform public.rebuild_analytics(p.company_id);
      v_repaired := v_repaired || p.company_id;
    end if;
  end loop;
  return jsonb_build_object('checked', v_checked, 'repaired', to_jsonb(v_repaired));
end $$;

-- The row the members list and the member page show for each member (program currency).
create function public.member_rows(p_company_id text, p_user_ids text[]) returns jsonb
language sql stable set search_path = '' as $$
  select coalesce(jsonb_agg(jsonb_build_object(
    'user_id', s.user_id, 'username', coalesce(u.username, u.name, s.user_id), 'code', c.code, 'code_active', c.is_active,
    'clicks', s.clicks, 'signups', s.signups, 'conversions', s.conversions, 'active_referrals', s.active_referrals,
    'revenue_cents', coalesce(m.revenue_cents, 0), 'earned_cents', coalesce(m.earned_cents, 0),
    'paid_cents', coalesce(m.paid_cents, 0), 'available_cents', coalesce(m.available_cents, 0),
    'pending_cents', coalesce(m.pending_cents, 0), 'on_hold_cents', coalesce(m.on_hold_cents, 0),
    'points', coalesce(b.balance, 0), 'joined_at', u.created_at) order by o.n), '[]')
  from unnest(p_user_ids) with ordinality o(user_id, n)
  join public.referral_stats s on s.company_id = p_company_id and s.user_id = o.user_id
  left join public.users u on u.company_id = p_company_id and u.user_id = o.user_id
  left join public.referral_codes c on c.company_id = p_company_id and c.user_id = o.user_id
  left join public.member_money m on m.company_id = p_company_id and m.user_id = o.user_id and m.currency = public.program_currency(p_company_id)
  left join public.points_balances b on b.company_id = p_company_id and b.user_id = o.user_id
$$;

-- Referrals of a company. p_filter: {status, member (referrer: user id or username),
-- sort (created | converted; default created), dir, after, limit ≤ 50}.
-- Returns {rows:[{id, referrer, referrer_user_id, referee, referee_user_id, status, active,
-- source, created_at, converted_at, signed_up_at}], next}.
create function public.list_referrals(p_company_id text, p_filter jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_sort text := coalesce(p_filter->>'sort', 'created');
  v_desc boolean := coalesce(p_filter->>'dir', 'desc') <> 'asc';
  v_limit integer := least(greatest(coalesce((p_filter->>'limit')::integer, 50), 1), 50);
  v_after text := p_filter->>'after';
  v_member text;
  v_col text;
  v_rows jsonb;
begin
  if v_sort not in ('created', 'converted') then raise exception 'Unknown sort "%"', v_sort using errcode = 'RL400'; end if;
  v_col := v_sort || '_at';
  if nullif(p_filter->>'member', '') is not null then
    v_member := public.resolve_member(p_company_id, p_filter->>'member');
    if v_member is null then return jsonb_build_object('rows', '[]'::jsonb, 'next', null); end if;
  end if;
  execute format($q$
    select coalesce(jsonb_agg(jsonb_build_object('id', r.id, 'referrer', coalesce(ur.username, r.referrer_user_id),
      'referrer_user_id', r.referrer_user_id, 'referee', coalesce(ue.username, r.referee_user_id), 'referee_user_id', r.referee_user_id,
      'status', r.status, 'active', r.status = 'converted' and r.deactivated_at is null, 'source', r.source,
      'created_at', r.created_at, 'converted_at', r.converted_at, 'signed_up_at', r.signed_up_at,
      'cursor', r.%1$I::text || '|' || r.id) order by r.n), '[]')
    from (select r.*, row_number() over (order by r.%1$I %6$s, r.id %6$s) as n from (
      select * from public.referrals r
      where r.company_id = $1 %2$s %3$s %4$s %5$s
      order by r.%1$I %6$s, r.id %6$s limit $6) r) r
    left join public.users ur on ur.company_id = r.company_id and ur.user_id = r.referrer_user_id
    left join public.users ue on ue.company_id = r.company_id and ue.user_id = r.referee_user_id $q$,
    v_col,
    case when p_filter->>'status' is null then '' else 'and r.status = $2' end,
    case when v_member is null then '' else 'and r.referrer_user_id = $3' end,
    case when v_sort = 'converted' then 'and r.converted_at is not null' else '' end,
    case when v_after is null then '' else format('and (r.%I, r.id) %s ($4::timestamptz, $5::uuid)', v_col, case when v_desc then '<' else '>' end) end,
    case when v_desc then 'desc' else 'asc' end)
  into v_rows using p_company_id, p_filter->>'status', v_member, public.cursor_part(v_after, 1), public.cursor_part(v_after, 2), v_limit + 1;
  return public.page_of(v_rows, v_limit);
end $$;

-- Payouts of a company. p_filter: {status, member, sort (requested | amount), dir, after,
-- limit ≤ 50}. Returns {rows:[{id, user_id, member, amount_cents, currency, status, error,
-- whop_transfer_id, attempts, requested_at, completed_at}], next}.
create function public.list_payouts(p_company_id text, p_filter jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_sort text := coalesce(p_filter->>'sort', 'requested');
  v_desc boolean := coalesce(p_filter->>'dir', 'desc') <> 'asc';
  v_limit integer := least(greatest(coalesce((p_filter->>'limit')::integer, 50), 1), 50);
  v_after text := p_filter->>'after';
  v_member text;
  v_col text;
  v_rows jsonb;
begin
  if v_sort not in ('requested', 'amount') then raise exception 'Unknown sort "%"', v_sort using errcode = 'RL400'; end if;
  v_col := case v_sort when 'requested' then 'requested_at' else 'amount_cents' end;
  if nullif(p_filter->>'member', '') is not null then
    v_member := public.resolve_member(p_company_id, p_filter->>'member');
    if v_member is null then return jsonb_build_object('rows', '[]'::jsonb, 'next', null); end if;
  end if;
  execute format($q$
    select coalesce(jsonb_agg(jsonb_build_object('id', o.id, 'user_id', o.user_id, 'member', coalesce(u.username, o.user_id),
      'amount_cents', o.amount_cents, 'currency', o.currency, 'status', o.status, 'error', o.error, 'reason', o.reason,
      'whop_transfer_id', o.whop_transfer_id, 'attempts', o.attempts, 'requested_at', o.requested_at,
      'completed_at', o.completed_at, 'cursor', o.%1$I::text || '|' || o.id) order by o.n), '[]')
    from (select o.*, row_number() over (order by o.%1$I %5$s, o.id %5$s) as n from (
      select * from public.payouts o where o.company_id = $1 %2$s %3$s %4$s
      order by o.%1$I %5$s, o.id %5$s limit $6) o) o
    left join public.users u on u.company_id = o.company_id and u.user_id = o.user_id $q$,
    v_col,
    case when p_filter->>'status' is null then '' else 'and o.status = $2' end,
    case when v_member is null then '' else 'and o.user_id = $3' end,
    case when v_after is null then '' else format('and (o.%I, o.id) %s ($4::%s, $5::uuid)', v_col,
      case when v_desc then '<' else '>' end, case v_sort when 'requested' then 'timestamptz' else 'bigint' end) end,
    case when v_desc then 'desc' else 'asc' end)
  into v_rows using p_company_id, p_filter->>'status', v_member, public.cursor_part(v_after, 1), public.cursor_part(v_after, 2), v_limit + 1;
  return public.page_of(v_rows, v_limit);
end $$;

-- The member's money and points (bounded): balances from member_money (program
-- currency, cents: pending, available (incl. a payout in progress), paid, reversed,
-- on_hold), upcoming (the next 20 pending commissions and when each becomes available),
-- payout eligibility, payouts (latest 20), points (balance, latest 50), items, redemptions
-- (latest 20).
create function public.get_member_wallet(p_company_id text, p_user_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_money public.member_money;
  v_open boolean;
  v_reason text;
begin
  v_program := public.ensure_program(p_company_id);
  select * into v_money from public.member_money
  where company_id = p_company_id and user_id = p_user_id and currency = v_program.currency;
  v_open := exists (select 1 from public.payouts where company_id = p_company_id and user_id = p_user_id
    and status in ('requested', 'processing'));
  v_reason := case
    when v_open then 'You have a payout in progress'
    when coalesce(v_money.available_cents, 0) < 0 then 'Your balance is negative after a refund'
    when coalesce(v_money.available_cents, 0) < greatest(v_program.min_payout_cents, 1) then 'Below the minimum payout'
  end;
  return jsonb_build_object(
    'currency', v_program.currency,
    'balances', jsonb_build_object(
      'pending', coalesce(v_money.pending_cents, 0),
      'available', coalesce(v_money.available_cents + v_money.in_payout_cents, 0),
      'paid', coalesce(v_money.paid_cents, 0),
      'on_hold', coalesce(v_money.on_hold_cents, 0),
      'reversed', coalesce(v_money.reversed_cents, 0)),
    'upcoming', coalesce((
      select jsonb_agg(jsonb_build_object('amount_cents', amount_cents - reversed_cents, 'available_at', available_at) order by available_at)
      from (select * from public.commissions where company_id = p_company_id and beneficiary_user_id = p_user_id
            and status = 'pending' order by available_at limit 20) c), '[]'),
    'payout', jsonb_build_object('can_request', v_reason is null, 'reason', v_reason,
      'available_cents', coalesce(v_money.available_cents, 0), 'min_payout_cents', v_program.min_payout_cents),
    'payouts', coalesce((
      select jsonb_agg(jsonb_build_object('id', id, 'amount_cents', amount_cents, 'currency', currency, 'status', status,
        'requested_at', requested_at, 'completed_at', completed_at, 'error', error) order by requested_at desc)
      from (select * from public.payouts where company_id = p_company_id and user_id = p_user_id
            order by requested_at desc limit 20) o), '[]'),
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
      from (select * from public.redemptions where company_id = p_company_id and user_id = p_user_id
            order by created_at desc limit 20) r join public.points_items i on i.id = r.item_id), '[]'));
end $$;

-- Every rollup write of a company takes this lock first (transaction-scoped, re-entrant),
-- so rollup rows (daily_stats, member_money, referral_stats, …) are always locked in the
-- same order and concurrent writers can't deadlock on them; rebuild_analytics takes it too,
-- so writers wait for a rebuild instead of updating rows it is replacing. Writers of one
-- company already queue on today's daily_stats row, so this costs little.
create function public.lock_rollups(p_company_id text) returns void
language sql set search_path = '' as $$
  select pg_advisory_xact_lock(hashtextextended('rollups:' || p_company_id, 0))
$$;

-- A new code: its owner becomes a member of the stats.
create function public.trg_codes_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform public.lock_rollups(new.company_id);
  perform public.touch_member_stats(new.company_id, new.user_id);
  return null;
end $$;

-- A counted click: the code owner's clicks, the day's clicks, its source and country.
-- (counted never changes after insert.)
create function public.trg_clicks_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
declare
  v_user text;
  v_day date;
begin
  if not new.counted then return null; end if;
  perform public.lock_rollups(new.company_id);
  select user_id into v_user from public.referral_codes where id = new.code_id;
  v_day := public.local_day(new.company_id, new.created_at);
  update public.referral_stats set clicks = clicks + 1 where company_id = new.company_id and user_id = v_user;
  perform public.bump_daily(new.company_id, v_user, v_day, 1, 0, 0, 0, 0, 0);
  insert into public.daily_sources as s (company_id, dimension, day, value, clicks)
  values (new.company_id, 'domain', v_day, public.referrer_domain(new.referrer_url), 1),
         (new.company_id, 'country', v_day, coalesce(new.country, '??'), 1)
  on conflict (company_id, dimension, day, value) do update set clicks = s.clicks + 1;
  return null;
end $$;

create function public.trg_referrals_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform public.lock_rollups(coalesce(new.company_id, old.company_id));
  if tg_op = 'INSERT' then
    perform public.touch_member_stats(new.company_id, new.referrer_user_id);
    perform public.touch_member_stats(new.company_id, new.referee_user_id);
    perform public.apply_referral_stats(new, 1);
  elsif tg_op = 'UPDATE' then
    if (old.status, old.signed_up_at, old.converted_at, old.deactivated_at, old.referrer_user_id)
       is distinct from (new.status, new.signed_up_at, new.converted_at, new.deactivated_at, new.referrer_user_id) then
      perform public.apply_referral_stats(old, -1);
      perform public.apply_referral_stats(new, 1);
    end if;
  else
    perform public.apply_referral_stats(old, -1);
  end if;
  return null;
end $$;

-- What one attributed payment adds to its referrer's revenue (gross cents, its currency;
-- the day's revenue when in the program currency).
create function public.apply_payment_stats(p public.payments, p_sign integer) returns void
language plpgsql set search_path = '' as $$
declare v_referrer text;
begin
  if p.referral_id is null then return; end if;
  perform public.lock_rollups(p.company_id);
  select referrer_user_id into v_referrer from public.referrals where id = p.referral_id;
  insert into public.member_money as m (company_id, user_id, currency, revenue_cents)
  values (p.company_id, v_referrer, p.currency, p_sign * p.amount_cents)
  on conflict (company_id, user_id, currency) do update set revenue_cents = m.revenue_cents + excluded.revenue_cents;
  if p.currency = public.program_currency(p.company_id) then
    perform public.bump_daily(p.company_id, v_referrer, public.local_day(p.company_id, p.created_at), 0, 0, 0, p_sign * p.amount_cents, 0, 0);
  end if;
end $$;

-- What one commission row adds to its beneficiary's balances: its net (amount −
-- reversed) in the bucket of its status (available splits by whether a payout holds it),
-- and what refunds took back (reductions, or a clawback's amount).
create function public.apply_commission_stats(c public.commissions, p_sign integer) returns void
language plpgsql set search_path = '' as $$
declare v_net bigint := c.amount_cents - c.reversed_cents;
begin
  perform public.lock_rollups(c.company_id);
  insert into public.member_money as m (company_id, user_id, currency, pending_cents, available_cents, in_payout_cents,
    on_hold_cents, paid_cents, reversed_cents, commissions)
  values (c.company_id, c.beneficiary_user_id, c.currency,
    p_sign * case when c.status = 'pending' then v_net else 0 end,
    p_sign * case when c.status = 'available' and c.payout_id is null then v_net else 0 end,
    p_sign * case when c.status = 'available' and c.payout_id is not null then v_net else 0 end,
    p_sign * case when c.status = 'on_hold' then v_net else 0 end,
    p_sign * case when c.status = 'paid' then v_net else 0 end,
    p_sign * case when c.kind = 'clawback' then -c.amount_cents else c.reversed_cents end,
    p_sign)
  on conflict (company_id, user_id, currency) do update set
    pending_cents = m.pending_cents + excluded.pending_cents, available_cents = m.available_cents + excluded.available_cents,
    in_payout_cents = m.in_payout_cents + excluded.in_payout_cents, on_hold_cents = m.on_hold_cents + excluded.on_hold_cents,
    paid_cents = m.paid_cents + excluded.paid_cents, reversed_cents = m.reversed_cents + excluded.reversed_cents,
    commissions = m.commissions + excluded.commissions;
end $$;

-- Ledger rows in the program currency: the day's net commission movement (commission,
-- reversal, clawback, cancellation) for the company and the beneficiary, and payouts.
-- The ledger is append-only, so inserts are all there is.
create function public.trg_transactions_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if new.kind not in ('commission', 'reversal', 'clawback', 'cancellation', 'payout') or new.amount_cents = 0
     or new.currency is distinct from public.program_currency(new.company_id) then
    return null;
  end if;
  perform public.lock_rollups(new.company_id);
  if new.kind = 'payout' then
    perform public.bump_daily(new.company_id, null, public.local_day(new.company_id, new.created_at), 0, 0, 0, 0, 0, -new.amount_cents);
  else
    perform public.bump_daily(new.company_id, new.user_id, public.local_day(new.company_id, new.created_at), 0, 0, 0, 0, new.amount_cents, 0);
  end if;
  return null;
end $$;

-- The month a previous converting day falls in ('-infinity' stays '-infinity').
create function public.gap_month(p_prev date) returns date
language sql immutable set search_path = '' as $$
  select case when p_prev = '-infinity' then p_prev else date_trunc('month', p_prev)::date end
$$;

-- Add p_sign (±1) members at (p_day, p_prev), in both gap tables; rows that reach 0 are removed.
create function public.bump_referrer_gap(p_company_id text, p_day date, p_prev date, p_sign integer) returns void
language sql set search_path = '' as $$
  insert into public.referrer_gaps as g (company_id, day, prev_day, n) values (p_company_id, p_day, p_prev, p_sign)
  on conflict (company_id, day, prev_day) do update set n = g.n + excluded.n;
  delete from public.referrer_gaps where company_id = p_company_id and day = p_day and prev_day = p_prev and n = 0;
  insert into public.referrer_gaps_month as g (company_id, day, prev_month, n)
  values (p_company_id, p_day, public.gap_month(p_prev), p_sign)
  on conflict (company_id, day, prev_month) do update set n = g.n + excluded.n;
  delete from public.referrer_gaps_month
  where company_id = p_company_id and day = p_day and prev_month = public.gap_month(p_prev) and n = 0;
$$;

-- A member-day started (p_on) or stopped converting: splice it into the member's chain of
-- converting days. The neighbours p (previous) and q (next) come from member_daily's key.
create function public.toggle_referrer_day(p_company_id text, p_user_id text, p_day date, p_on boolean) returns void
language plpgsql set search_path = '' as $$
declare
  v_sign integer := case when p_on then 1 else -1 end;
  v_prev date;
  v_next date;
begin
  select coalesce(max(day), '-infinity') into v_prev from public.member_daily
  where company_id = p_company_id and user_id = p_user_id and day < p_day and conversions > 0;
  select min(day) into v_next from public.member_daily
  where company_id = p_company_id and user_id = p_user_id and day > p_day and conversions > 0;
  perform public.bump_referrer_gap(p_company_id, p_day, v_prev, v_sign);
  if v_next is not null then
    perform public.bump_referrer_gap(p_company_id, v_next, v_prev, -v_sign);
    perform public.bump_referrer_gap(p_company_id, v_next, p_day, v_sign);
  end if;
end $$;

-- Add to a company's day (daily_stats) and, with p_user_id, to the member's day
-- (member_daily); a member-day whose conversions cross zero updates the gaps.
create function public.bump_daily(p_company_id text, p_user_id text, p_day date,
  p_clicks bigint, p_signups bigint, p_conversions bigint, p_revenue bigint, p_commissions bigint, p_paid bigint)
returns void
language plpgsql set search_path = '' as $$
declare v_conversions bigint;
begin
  insert into public.daily_stats as d (company_id, day, clicks, signups, conversions, revenue_cents, commissions_cents, paid_cents)
  values (p_company_id, p_day, p_clicks, p_signups, p_conversions, p_revenue, p_commissions, p_paid)
  on conflict (company_id, day) do update set
    clicks = d.clicks + excluded.clicks, signups = d.signups + excluded.signups,
    conversions = d.conversions + excluded.conversions, revenue_cents = d.revenue_cents + excluded.revenue_cents,
    commissions_cents = d.commissions_cents + excluded.commissions_cents, paid_cents = d.paid_cents + excluded.paid_cents;
  if p_user_id is not null then
    insert into public.member_daily as m (company_id, user_id, day, clicks, signups, conversions, revenue_cents, commissions_cents)
    values (p_company_id, p_user_id, p_day, p_clicks, p_signups, p_conversions, p_revenue, p_commissions)
    on conflict (company_id, user_id, day) do update set
      clicks = m.clicks + excluded.clicks, signups = m.signups + excluded.signups,
      conversions = m.conversions + excluded.conversions, revenue_cents = m.revenue_cents + excluded.revenue_cents,
      commissions_cents = m.commissions_cents + excluded.commissions_cents
    returning conversions into v_conversions;
    if p_conversions <> 0 and (v_conversions > 0) <> (v_conversions - p_conversions > 0) then
      perform public.toggle_referrer_day(p_company_id, p_user_id, p_day, v_conversions > 0);
    end if;
  end if;
end $$;

-- The gaps a company's member_daily implies (member_daily itself is checked against the
-- source rows through analytics_expected_daily).
create function public.analytics_expected_referrer_gaps(p_company_id text)
returns table (company_id text, day date, prev_day date, n bigint)
language sql stable set search_path = '' as $$
  select p_company_id, day, prev_day, count(*) from (
    select day, coalesce(lag(day) over (partition by user_id order by day), '-infinity') as prev_day
    from public.member_daily where company_id = p_company_id and conversions > 0) x
  group by day, prev_day
$$;

-- Members with at least one conversion on a local day in [p_from, p_to] (inclusive): the
-- gaps ending in the range that start before p_from — whole months before p_from's month
-- from referrer_gaps_month, and the days of p_from's month before it, day by day, from
-- referrer_gaps (each day an index range of at most a month).
create function public.active_referrers(p_company_id text, p_from date, p_to date) returns bigint
language sql stable set search_path = '' as $$
  select (coalesce((select sum(n) from public.referrer_gaps_month
                    where company_id = p_company_id and day between p_from and p_to
                      and prev_month < public.gap_month(p_from)), 0)
        + coalesce((select sum(x.n) from generate_series(p_from, p_to, interval '1 day') d
                    cross join lateral (select sum(n) as n from public.referrer_gaps
                                        where company_id = p_company_id and day = d::date
                                          and prev_day >= public.gap_month(p_from) and prev_day < p_from) x), 0))::bigint
$$;

-- The Overview of [p_from, p_to] (local dates, inclusive, program currency; active
-- referrers counted from the gaps by active_referrers):
-- {currency, timezone, granularity (day | week: weeks beyond 90 days), kpis:{current,
-- previous} each {clicks, signups, conversions, revenue_cents, commissions_cents,
-- paid_cents, active_referrers}, owed_cents (now), series:[{bucket, clicks, signups,
-- conversions, revenue_cents, commissions_cents}], top_by_revenue, top_by_conversions
-- (all time, 5 each), sources, countries (top 8 by counted clicks in the range)}.
-- The previous period is the same number of days just before p_from.
-- Errors: RL400 when p_to < p_from or the range exceeds 3 years.
create function public.get_overview(p_company_id text, p_from date, p_to date) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_program public.programs;
  v_days integer := p_to - p_from + 1;
  v_prev_from date := p_from - (p_to - p_from + 1);
  v_week boolean := (p_to - p_from + 1) > 90;
begin
  if p_from is null or p_to is null or p_to < p_from then raise exception 'The range must end after it starts' using errcode = 'RL400'; end if;
  if v_days > 1100 then raise exception 'Pick a range of at most 3 years' using errcode = 'RL400'; end if;
  select * into v_program from public.programs where company_id = p_company_id;
  return jsonb_build_object(
    'currency', coalesce(v_program.currency, 'USD'),
    'timezone', coalesce(v_program.timezone, 'UTC'),
    'granularity', case when v_week then 'week' else 'day' end,
    'kpis', (select jsonb_build_object(
        'current', jsonb_build_object('clicks', coalesce(sum(clicks) filter (where cur), 0), 'signups', coalesce(sum(signups) filter (where cur), 0),
          'conversions', coalesce(sum(conversions) filter (where cur), 0), 'revenue_cents', coalesce(sum(revenue_cents) filter (where cur), 0),
          'commissions_cents', coalesce(sum(commissions_cents) filter (where cur), 0), 'paid_cents', coalesce(sum(paid_cents) filter (where cur), 0),
          'active_referrers', public.active_referrers(p_company_id, p_from, p_to)),
        'previous', jsonb_build_object('clicks', coalesce(sum(clicks) filter (where not cur), 0), 'signups', coalesce(sum(signups) filter (where not cur), 0),
          'conversions', coalesce(sum(conversions) filter (where not cur), 0), 'revenue_cents', coalesce(sum(revenue_cents) filter (where not cur), 0),
          'commissions_cents', coalesce(sum(commissions_cents) filter (where not cur), 0), 'paid_cents', coalesce(sum(paid_cents) filter (where not cur), 0),
          'active_referrers', public.active_referrers(p_company_id, v_prev_from, p_from - 1)))
      from (select d.*, d.day >= p_from as cur from public.daily_stats d
            where d.company_id = p_company_id and d.day between v_prev_from and p_to) x),
    'owed_cents', (select coalesce(sum(commissions_cents - paid_cents), 0) from public.daily_stats where company_id = p_company_id),
    'series', (select coalesce(jsonb_agg(jsonb_build_object('bucket', b.bucket, 'clicks', coalesce(s.clicks, 0),
        'signups', coalesce(s.signups, 0), 'conversions', coalesce(s.conversions, 0), 'revenue_cents', coalesce(s.revenue_cents, 0),
        'commissions_cents', coalesce(s.commissions_cents, 0)) order by b.bucket), '[]')
      from (select distinct case when v_week then date_trunc('week', g)::date else g::date end as bucket
            from generate_series(p_from, p_to, interval '1 day') g) b
      left join (select case when v_week then date_trunc('week', day)::date else day end as bucket, sum(clicks) as clicks,
                   sum(signups) as signups, sum(conversions) as conversions, sum(revenue_cents) as revenue_cents,
                   sum(commissions_cents) as commissions_cents
                 from public.daily_stats where company_id = p_company_id and day between p_from and p_to group by 1) s
        on s.bucket = b.bucket),
    'top_by_revenue', (select coalesce(jsonb_agg(jsonb_build_object('user_id', m.user_id, 'username', coalesce(u.username, m.user_id),
        'revenue_cents', m.revenue_cents, 'conversions', s.conversions) order by m.revenue_cents desc, m.user_id desc), '[]')
      from (select * from public.member_money where company_id = p_company_id and currency = coalesce(v_program.currency, 'USD')
            and revenue_cents > 0 order by revenue_cents desc, user_id desc limit 5) m
      left join public.referral_stats s on s.company_id = m.company_id and s.user_id = m.user_id
      left join public.users u on u.company_id = m.company_id and u.user_id = m.user_id),
    'top_by_conversions', (select coalesce(jsonb_agg(jsonb_build_object('user_id', s.user_id, 'username', coalesce(u.username, s.user_id),
        'conversions', s.conversions, 'revenue_cents', coalesce(m.revenue_cents, 0)) order by s.conversions desc, s.user_id desc), '[]')
      from (select * from public.referral_stats where company_id = p_company_id and conversions > 0
            order by conversions desc, user_id desc limit 5) s
      left join public.member_money m on m.company_id = s.company_id and m.user_id = s.user_id and m.currency = coalesce(v_program.currency, 'USD')
      left join public.users u on u.company_id = s.company_id and u.user_id = s.user_id),
    'sources', (select coalesce(jsonb_agg(jsonb_build_object('value', value, 'clicks', n) order by n desc, value), '[]') from (
        select value, sum(clicks) as n from public.daily_sources
        where company_id = p_company_id and dimension = 'domain' and day between p_from and p_to
        group by value order by n desc, value limit 8) x),
    'countries', (select coalesce(jsonb_agg(jsonb_build_object('value', value, 'clicks', n) order by n desc, value), '[]') from (
        select value, sum(clicks) as n from public.daily_sources
        where company_id = p_company_id and dimension = 'country' and day between p_from and p_to
        group by value order by n desc, value limit 8) x));
end $$;

-- What referral r adds (p_sign 1) or takes back (−1) on its referrer's plan row.
create function public.apply_plan_stats(r public.referrals, p_sign integer) returns void
language plpgsql set search_path = '' as $$
begin
  if r.plan_id is null or r.status <> 'converted' then return; end if;
  insert into public.referral_plan_stats as s (company_id, user_id, plan_id, conversions, active_referrals)
  values (r.company_id, r.referrer_user_id, r.plan_id, p_sign, p_sign * (r.deactivated_at is null)::integer)
  on conflict (company_id, user_id, plan_id) do update set conversions = s.conversions + excluded.conversions,
    active_referrals = s.active_referrals + excluded.active_referrals;
end $$;

create function public.trg_referrals_plan_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then perform public.apply_plan_stats(old, -1); end if;
  if tg_op in ('UPDATE', 'INSERT') then perform public.apply_plan_stats(new, 1); end if;
  return null;
end $$;

-- The plan rows recomputed from the referrals (the check and the repair).
create function public.analytics_expected_plan_stats(p_company_id text) returns setof public.referral_plan_stats
language sql stable set search_path = '' as $$
  select company_id, referrer_user_id, plan_id, count(*), count(*) filter (where deactivated_at is null)
  from public.referrals where company_id = p_company_id and status = 'converted' and plan_id is not null
  group by 1, 2, 3
$$;

-- Where the kept rollups of a company differ from what the source rows give: {ok,
-- differences: [{table, key, side: 'kept' | 'expected', row}] (the first 20)}. Covers
-- referral_stats, member_money, daily_stats, member_daily, daily_sources, referrer_gaps,
-- referrer_gaps_month and referral_plan_stats; all-zero rollup rows count as absent. Used by
-- the tests after every scenario and by the analytics-repair job.
create function public.check_analytics(p_company_id text) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare v jsonb;
begin
  with
  e_stats as (select * from public.analytics_expected_referral_stats(p_company_id)),
  k_stats as (select * from public.referral_stats where company_id = p_company_id),
  e_money as (select company_id, user_id, currency, pending_cents, available_cents, in_payout_cents, on_hold_cents, paid_cents,
                reversed_cents, commissions, revenue_cents from public.analytics_expected_member_money(p_company_id)),
  k_money as (select company_id, user_id, currency, pending_cents, available_cents, in_payout_cents, on_hold_cents, paid_cents,
                reversed_cents, commissions, revenue_cents from public.member_money where company_id = p_company_id),
  e_all as (select * from public.analytics_expected_daily(p_company_id)),
  e_day as (select day, sum(clicks) as clicks, sum(signups) as signups, sum(conversions) as conversions,
              sum(revenue_cents) as revenue_cents, sum(commissions_cents) as commissions_cents, sum(paid_cents) as paid_cents
            from e_all group by day),
  k_day as (select day, clicks::numeric, signups::numeric, conversions::numeric, revenue_cents::numeric,
              commissions_cents::numeric, paid_cents::numeric from public.daily_stats where company_id = p_company_id),
  e_mday as (select user_id, day, clicks, signups, conversions, revenue_cents, commissions_cents from e_all where user_id is not null),
  k_mday as (select user_id, day, clicks, signups, conversions, revenue_cents, commissions_cents from public.member_daily
             where company_id = p_company_id),
  e_src as (select * from public.analytics_expected_sources(p_company_id)),
  k_src as (select * from public.daily_sources where company_id = p_company_id and clicks <> 0),
  e_gaps as (select * from public.analytics_expected_referrer_gaps(p_company_id)),
  k_gaps as (select * from public.referrer_gaps where company_id = p_company_id),
  e_gmonth as (select company_id, day, public.gap_month(prev_day) as prev_month, sum(n)::bigint as n from e_gaps group by 1, 2, 3),
  k_gmonth as (select * from public.referrer_gaps_month where company_id = p_company_id),
  e_plans as (select * from public.analytics_expected_plan_stats(p_company_id)),
  k_plans as (select * from public.referral_plan_stats where company_id = p_company_id and (conversions, active_referrals) <> (0, 0)),
  diffs as (
    select 'referral_stats' as t, x.user_id as key, to_jsonb(x) as row, 'kept' as side from (select * from k_stats except select * from e_stats) x
    union all select 'referral_stats', x.user_id, to_jsonb(x), 'expected' from (select * from e_stats except select * from k_stats) x
    union all select 'member_money', x.user_id || ' ' || x.currency, to_jsonb(x), 'kept' from (
      select * from k_money where (pending_cents, available_cents, in_payout_cents, on_hold_cents, paid_cents, reversed_cents, commissions, revenue_cents) <> (0,0,0,0,0,0,0,0) or currency = public.program_currency(p_company_id)
      except select * from e_money) x
    union all select 'member_money', x.user_id || ' ' || x.currency, to_jsonb(x), 'expected' from (
      select * from e_money where (pending_cents, available_cents, in_payout_cents, on_hold_cents, paid_cents, reversed_cents, commissions, revenue_cents) <> (0,0,0,0,0,0,0,0) or currency = public.program_currency(p_company_id)
      except select * from k_money) x
    union all select 'daily_stats', x.day::text, to_jsonb(x), 'kept' from (
      select * from k_day where (clicks, signups, conversions, revenue_cents, commissions_cents, paid_cents) <> (0,0,0,0,0,0)
      except select * from e_day) x
    union all select 'daily_stats', x.day::text, to_jsonb(x), 'expected' from (
      select * from e_day where (clicks, signups, conversions, revenue_cents, commissions_cents, paid_cents) <> (0,0,0,0,0,0)
      except select * from k_day) x
    union all select 'member_daily', x.user_id || ' ' || x.day, to_jsonb(x), 'kept' from (
      select * from k_mday where (clicks, signups, conversions, revenue_cents, commissions_cents) <> (0,0,0,0,0)
      except select * from e_mday) x
    union all select 'member_daily', x.user_id || ' ' || x.day, to_jsonb(x), 'expected' from (
      select * from e_mday where (clicks, signups, conversions, revenue_cents, commissions_cents) <> (0,0,0,0,0)
      except select * from k_mday) x
    union all select 'daily_sources', x.dimension || ' ' || x.value || ' ' || x.day, to_jsonb(x), 'kept' from (select * from k_src except select * from e_src) x
    union all select 'daily_sources', x.dimension || ' ' || x.value || ' ' || x.day, to_jsonb(x), 'expected' from (select * from e_src except select * from k_src) x
    union all select 'referrer_gaps', x.day || ' after ' || x.prev_day, to_jsonb(x), 'kept' from (select * from k_gaps except select * from e_gaps) x
    union all select 'referrer_gaps', x.day || ' after ' || x.prev_day, to_jsonb(x), 'expected' from (select * from e_gaps except select * from k_gaps) x
    union all select 'referrer_gaps_month', x.day || ' after ' || x.prev_month, to_jsonb(x), 'kept' from (select * from k_gmonth except select * from e_gmonth) x
    union all select 'referrer_gaps_month', x.day || ' after ' || x.prev_month, to_jsonb(x), 'expected' from (select * from e_gmonth except select * from k_gmonth) x
    union all select 'referral_plan_stats', x.user_id || ' ' || x.plan_id, to_jsonb(x), 'kept' from (select * from k_plans except select * from e_plans) x
    union all select 'referral_plan_stats', x.user_id || ' ' || x.plan_id, to_jsonb(x), 'expected' from (select * from e_plans except select * from k_plans) x)
  select jsonb_build_object('ok', count(*) = 0, 'differences',
    coalesce((select jsonb_agg(jsonb_build_object('table', t, 'key', key, 'side', side, 'row', row)) from (select * from diffs limit 20) d), '[]'))
  into v from diffs;
  return v;
end $$;

-- Repair: replace a company's rollups (every table check_analytics covers) with the ones
-- recomputed from the source rows — the repair job, a time zone change, bulk loads.
-- Returns {rebuilt}.
create function public.rebuild_analytics(p_company_id text) returns jsonb
language plpgsql security definer set search_path = '' as $$
begin
  -- writers of this company wait until the rebuilt rows are committed (lock_rollups)
  perform public.lock_rollups(p_company_id);
  delete from public.referral_stats where company_id = p_company_id;
  delete from public.member_money where company_id = p_company_id;
  delete from public.daily_stats where company_id = p_company_id;
  delete from public.member_daily where company_id = p_company_id;
  delete from public.daily_sources where company_id = p_company_id;
  insert into public.referral_stats select * from public.analytics_expected_referral_stats(p_company_id);
  insert into public.member_money (company_id, user_id, currency, pending_cents, available_cents, in_payout_cents, on_hold_cents,
    paid_cents, reversed_cents, commissions, revenue_cents)
  select company_id, user_id, currency, pending_cents, available_cents, in_payout_cents, on_hold_cents, paid_cents,
    reversed_cents, commissions, revenue_cents from public.analytics_expected_member_money(p_company_id);
  create temporary table if not exists pg_temp.expected_daily on commit drop as
    select * from public.analytics_expected_daily(p_company_id);
  insert into public.daily_stats (company_id, day, clicks, signups, conversions, revenue_cents, commissions_cents, paid_cents)
  select p_company_id, day, sum(clicks), sum(signups), sum(conversions), sum(revenue_cents), sum(commissions_cents), sum(paid_cents)
  from pg_temp.expected_daily group by day;
  insert into public.member_daily (company_id, user_id, day, clicks, signups, conversions, revenue_cents, commissions_cents)
  select p_company_id, user_id, day, clicks, signups, conversions, revenue_cents, commissions_cents
  from pg_temp.expected_daily where user_id is not null;
  drop table pg_temp.expected_daily;
  insert into public.daily_sources select * from public.analytics_expected_sources(p_company_id);
  delete from public.referrer_gaps where company_id = p_company_id;
  delete from public.referrer_gaps_month where company_id = p_company_id;
  insert into public.referrer_gaps select * from public.analytics_expected_referrer_gaps(p_company_id);
  insert into public.referrer_gaps_month
  select company_id, day, public.gap_month(prev_day), sum(n) from public.referrer_gaps where company_id = p_company_id group by 1, 2, 3;
  delete from public.referral_plan_stats where company_id = p_company_id;
  insert into public.referral_plan_stats select * from public.analytics_expected_plan_stats(p_company_id);
  return jsonb_build_object('rebuilt', p_company_id);
end $$;

-- One member for the creator: {member (member_rows), referred_by, referrals (latest 20),
-- payouts (latest 20), points (latest 30 ledger rows), plans: their referrals per plan
-- [{plan_id, conversions, active_referrals}] (most conversions first, 20)}; null when not a
-- member.
create function public.get_member_detail(p_company_id text, p_user_id text) returns jsonb
language sql stable security definer set search_path = '' as $$
  select case when not exists (select 1 from public.referral_stats where company_id = p_company_id and user_id = p_user_id) then null
  else jsonb_build_object(
    'member', public.member_rows(p_company_id, array[p_user_id])->0,
    'referred_by', (select jsonb_build_object('user_id', r.referrer_user_id, 'username', coalesce(u.username, r.referrer_user_id))
      from public.referrals r left join public.users u on u.company_id = r.company_id and u.user_id = r.referrer_user_id
      where r.company_id = p_company_id and r.referee_user_id = p_user_id),
    'referrals', coalesce((select jsonb_agg(x order by x->>'created_at' desc) from (
      select jsonb_build_object('id', r.id, 'referee', coalesce(u.username, r.referee_user_id), 'status', r.status,
        'active', r.status = 'converted' and r.deactivated_at is null, 'source', r.source,
        'created_at', r.created_at, 'converted_at', r.converted_at) as x
      from public.referrals r left join public.users u on u.company_id = r.company_id and u.user_id = r.referee_user_id
      where r.company_id = p_company_id and r.referrer_user_id = p_user_id order by r.created_at desc limit 20) s), '[]'),
    'payouts', coalesce((select jsonb_agg(jsonb_build_object('id', o.id, 'amount_cents', o.amount_cents, 'currency', o.currency,
        'status', o.status, 'requested_at', o.requested_at, 'completed_at', o.completed_at, 'error', o.error) order by o.requested_at desc)
      from (select * from public.payouts where company_id = p_company_id and user_id = p_user_id order by requested_at desc limit 20) o), '[]'),
    'points', coalesce((select jsonb_agg(jsonb_build_object('points', t.points, 'type', t.points_type, 'memo', t.memo,
        'created_at', t.created_at) order by t.created_at desc, t.id desc)
      from (select * from public.transactions where company_id = p_company_id and user_id = p_user_id and kind = 'points'
            order by created_at desc, id desc limit 30) t), '[]'),
    'plans', coalesce((
      select jsonb_agg(jsonb_build_object('plan_id', s.plan_id, 'conversions', s.conversions, 'active_referrals', s.active_referrals)
                       order by s.conversions desc, s.plan_id)
      from (select * from public.referral_plan_stats where company_id = p_company_id and user_id = p_user_id and conversions > 0
            order by conversions desc, plan_id limit 20) s), '[]'))
  end
$$;

-- The creator's commissions list. p_filter: {status, level, kind, member, from, to (local
-- dates), sort (created | amount), dir, after, limit ≤ 50}. Each row says how its rate was
-- made: rate_bp = the base rate + campaign_bonus_bp (the campaign's part, with campaign_id) +
-- tier_bonus_bp, times streak_multiplier for a level-1 commission; kind 'bonus' rows are
-- campaign prizes paid as money (no payment). Returns {rows:[…], next}.
create function public.list_commissions(p_company_id text, p_filter jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_sort text := coalesce(p_filter->>'sort', 'created');
  v_desc boolean := coalesce(p_filter->>'dir', 'desc') <> 'asc';
  v_limit integer := least(greatest(coalesce((p_filter->>'limit')::integer, 50), 1), 50);
  v_after text := p_filter->>'after';
  v_tz text;
  v_member text;
  v_col text;
  v_rows jsonb;
begin
  if v_sort not in ('created', 'amount') then raise exception 'Unknown sort "%"', v_sort using errcode = 'RL400'; end if;
  v_col := case v_sort when 'created' then 'created_at' else 'amount_cents' end;
  v_tz := coalesce((select timezone from public.programs where company_id = p_company_id), 'UTC');
  if nullif(p_filter->>'member', '') is not null then
    v_member := public.resolve_member(p_company_id, p_filter->>'member');
    if v_member is null then return jsonb_build_object('rows', '[]'::jsonb, 'next', null); end if;
  end if;
  execute format($q$
    select coalesce(jsonb_agg(jsonb_build_object('id', c.id, 'beneficiary', coalesce(u.username, c.beneficiary_user_id),
      'beneficiary_user_id', c.beneficiary_user_id, 'payment_id', c.payment_id, 'level', c.level, 'kind', c.kind,
      'base_amount_cents', c.base_amount_cents, 'rate_bp', c.rate_bp, 'amount_cents', c.amount_cents,
      'reversed_cents', c.reversed_cents, 'currency', c.currency, 'status', c.status, 'reason', c.reason,
      'campaign_bonus_bp', c.campaign_bonus_bp, 'campaign_id', c.campaign_id,
      'tier_bonus_bp', c.tier_bonus_bp, 'streak_multiplier', c.streak_multiplier,
      'available_at', c.available_at, 'created_at', c.created_at, 'paid_at', c.paid_at,
      'cursor', c.%1$I::text || '|' || c.id) order by c.n), '[]')
    from (select c.*, row_number() over (order by c.%1$I %9$s, c.id %9$s) as n from (
      select * from public.commissions c
      where c.company_id = $1 %2$s %3$s %4$s %5$s %6$s %7$s %8$s
      order by c.%1$I %9$s, c.id %9$s limit $10) c) c
    left join public.users u on u.company_id = c.company_id and u.user_id = c.beneficiary_user_id $q$,
    v_col,
    case when p_filter->>'status' is null then '' else 'and c.status = $2' end,
    case when p_filter->>'level' is null then '' else 'and c.level = $3::integer' end,
    case when p_filter->>'kind' is null then '' else 'and c.kind = $4' end,
    case when v_member is null then '' else 'and c.beneficiary_user_id = $5' end,
    case when p_filter->>'from' is null then '' else 'and c.created_at >= ($6::date)::timestamp at time zone $11' end,
    case when p_filter->>'to' is null then '' else 'and c.created_at < ($7::date + 1)::timestamp at time zone $11' end,
    case when v_after is null then '' else format('and (c.%I, c.id) %s ($8::%s, $9::uuid)', v_col,
      case when v_desc then '<' else '>' end, case v_sort when 'created' then 'timestamptz' else 'bigint' end) end,
    case when v_desc then 'desc' else 'asc' end)
  into v_rows using p_company_id, p_filter->>'status', p_filter->>'level', p_filter->>'kind', v_member,
    p_filter->>'from', p_filter->>'to', public.cursor_part(v_after, 1), public.cursor_part(v_after, 2), v_limit + 1, v_tz;
  return public.page_of(v_rows, v_limit);
end $$;

-- Members of a company (everyone with a code or a referral); a search lists usernames in
-- byte order. p_filter: {q (username
-- prefix or exact code), sort (conversions | clicks | signups | active_referrals |
-- revenue | earned | paid | available; default conversions), dir (desc | asc), after,
-- limit ≤ 50}. Returns {rows:[member_rows], next: cursor | null}.
create function public.list_members(p_company_id text, p_filter jsonb) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_sort text := coalesce(p_filter->>'sort', 'conversions');
  v_desc boolean := coalesce(p_filter->>'dir', 'desc') <> 'asc';
  v_limit integer := least(greatest(coalesce((p_filter->>'limit')::integer, 50), 1), 50);
  v_after text := p_filter->>'after';
  v_q text := nullif(trim(p_filter->>'q'), '');
  v_col text;
  v_from text;
  v_ids text[];
  v_next text;
begin
  if v_q is not null then
    -- a search is a short list: the exact code, then the first 50 usernames with this
    -- prefix in the index's order (~<~, byte order: the scan stops after 50 however many
    -- match; EXECUTE so the prefix uses the index)
    execute $q$
      select array_agg(user_id order by k, name) from (
        select user_id, min(k) as k, min(name) as name from (
          (select c.user_id, 0 as k, '' collate "C" as name from public.referral_codes c
           where c.company_id = $1 and lower(c.code) = lower($2))
          union all
          (select u.user_id, 1, lower(u.username) collate "C" from public.users u
           where u.company_id = $1 and lower(u.username) like $3
             and exists (select 1 from public.referral_stats s where s.company_id = $1 and s.user_id = u.user_id)
           order by lower(u.username) using ~<~ limit 50)) m
        group by user_id order by min(k), min(name) limit 50) x $q$
    into v_ids
    using p_company_id, v_q, replace(replace(replace(lower(v_q), '\', '\\'), '%', '\%'), '_', '\_') || '%';
    return jsonb_build_object('rows', public.member_rows(p_company_id, coalesce(v_ids, '{}')), 'next', null);
  end if;
  if v_sort in ('conversions', 'clicks', 'signups', 'active_referrals') then
    v_col := v_sort;
    v_from := 'public.referral_stats t where t.company_id = $1';
  elsif v_sort in ('revenue', 'earned', 'paid', 'available') then
    v_col := v_sort || '_cents';
    v_from := 'public.member_money t where t.company_id = $1 and t.currency = public.program_currency($1)';
  else
    raise exception 'Unknown sort "%"', v_sort using errcode = 'RL400';
  end if;
  execute format(
    'select array_agg(x.user_id order by x.v %3$s, x.user_id %3$s) from (select t.user_id, t.%1$I as v from %2$s %4$s order by t.%1$I %3$s, t.user_id %3$s limit $4) x',
    v_col, v_from, case when v_desc then 'desc' else 'asc' end,
    case when v_after is null then '' else format('and (t.%I, t.user_id) %s ($2::bigint, $3)', v_col, case when v_desc then '<' else '>' end) end)
  into v_ids using p_company_id, public.cursor_part(v_after, 1), public.cursor_part(v_after, 2), v_limit + 1;
  v_ids := coalesce(v_ids, '{}');
  if cardinality(v_ids) > v_limit then
    v_ids := v_ids[1:v_limit];
    execute format('select t.%I::text || ''|'' || t.user_id from %s and t.user_id = $2', v_col, v_from)
      into v_next using p_company_id, v_ids[v_limit];
  end if;
  return jsonb_build_object('rows', public.member_rows(p_company_id, v_ids),
    'next', v_next);
end $$;

-- Everything the member's Home shows, its latest referrals read
-- from referrals_referrer_recent_idx alone (the columns shown, not the row):
-- {code, code_active, funnel:{clicks, signups, conversions, active_referrals}, earnings
-- (get_user_referral_earnings), this_month_cents (commissions earned this local month,
-- program currency), series (last 30 local days: clicks, conversions, commissions_cents),
-- referrals (latest 50), referred_by, program:{currency, min_payout_cents, timezone}}.
-- Creates the member's code on first visit.
create function public.get_member_view(p_company_id text, p_user_id text, p_username text, p_name text)
returns jsonb
language plpgsql security definer set search_path = '' as $$
declare
  v_code text;
  v_program public.programs;
  v_today date;
begin
  v_code := public.get_or_create_code(p_company_id, p_user_id, p_username, p_name)->>'code';
  select * into v_program from public.programs where company_id = p_company_id;
  v_today := (now() at time zone v_program.timezone)::date;
  return jsonb_build_object(
    'code', v_code,
    'code_active', (select is_active from public.referral_codes where company_id = p_company_id and user_id = p_user_id),
    'funnel', (select jsonb_build_object('clicks', clicks, 'signups', signups, 'conversions', conversions, 'active_referrals', active_referrals)
               from public.referral_stats where company_id = p_company_id and user_id = p_user_id),
    'earnings', coalesce((select jsonb_agg(to_jsonb(e)) from public.get_user_referral_earnings(p_company_id, p_user_id) e), '[]'::jsonb),
    'this_month_cents', (select coalesce(sum(commissions_cents), 0) from public.member_daily
      where company_id = p_company_id and user_id = p_user_id and day >= date_trunc('month', v_today)::date),
    'series', (select jsonb_agg(jsonb_build_object('bucket', g::date, 'clicks', coalesce(d.clicks, 0),
        'conversions', coalesce(d.conversions, 0), 'commissions_cents', coalesce(d.commissions_cents, 0)) order by g)
      from generate_series(v_today - 29, v_today, interval '1 day') g
      left join public.member_daily d on d.company_id = p_company_id and d.user_id = p_user_id and d.day = g::date),
    'referrals', coalesce((
      select jsonb_agg(jsonb_build_object('referee', coalesce(u.username, u.name, r.referee_user_id),
        'status', r.status, 'active', r.status = 'converted' and r.deactivated_at is null, 'source', r.source,
        'created_at', r.created_at, 'converted_at', r.converted_at) order by r.created_at desc)
      from (select company_id, referee_user_id, status, deactivated_at, source, created_at, converted_at
            from public.referrals where company_id = p_company_id and referrer_user_id = p_user_id
            order by created_at desc limit 50) r
      left join public.users u on u.company_id = r.company_id and u.user_id = r.referee_user_id), '[]'::jsonb),
    'referred_by', (
      select jsonb_build_object('user_id', r.referrer_user_id, 'username', coalesce(u.username, u.name, r.referrer_user_id))
      from public.referrals r
      left join public.users u on u.company_id = r.company_id and u.user_id = r.referrer_user_id
      where r.company_id = p_company_id and r.referee_user_id = p_user_id),
    'program', jsonb_build_object('currency', v_program.currency, 'min_payout_cents', v_program.min_payout_cents,
      'timezone', v_program.timezone));
end $$;

-- Earnings of one member per currency, read from member_money (kept with
-- every commission change): total = pending + available + paid (in a payout counts as
-- available); pending_earnings = pending + available; paid = paid. on_hold, reversed and
-- cancelled count nowhere. Currencies the member never had a commission in are left out.
create function public.get_user_referral_earnings(p_company_id text, p_user_id text)
returns table (currency text, total_earnings bigint, pending_earnings bigint, paid_earnings bigint)
language sql stable security definer set search_path = '' as $$
  select m.currency, m.earned_cents, m.pending_cents + m.available_cents + m.in_payout_cents, m.paid_cents
  from public.member_money m
  where m.company_id = p_company_id and m.user_id = p_user_id and m.commissions > 0
  order by m.currency
$$;

-- ── Triggers ────────────────────────────────────────────────────────────────

create trigger referral_codes_stats after insert on public.referral_codes
  for each row execute function public.trg_codes_stats();

create trigger referral_clicks_stats after insert on public.referral_clicks
  for each row execute function public.trg_clicks_stats();

create trigger referrals_stats after insert or update or delete on public.referrals
  for each row execute function public.trg_referrals_stats();

create trigger payments_stats after insert or update or delete on public.payments
  for each row execute function public.trg_payments_stats();

create trigger commissions_stats after insert or update or delete on public.commissions
  for each row execute function public.trg_commissions_stats();

create trigger transactions_stats after insert on public.transactions
  for each row execute function public.trg_transactions_stats();

create trigger referrals_plan_stats after insert or delete or update of status, deactivated_at, plan_id, referrer_user_id
  on public.referrals for each row execute function public.trg_referrals_plan_stats();
