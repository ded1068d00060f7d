-- Referly: fixes to the analytics migration found after it landed (it is applied once, so
-- they come here, each a `create or replace` of the function it changes):
--  - every rollup write of a company takes one per-company lock first (lock_rollups), so
--    concurrent writers lock rollup rows in one order (no deadlocks) and a rebuild loses no
--    write made while it runs;
--  - upsert_user writes nothing when nothing changed (member views were write transactions);
--  - the members search is bounded and planned with the prefix index;
--  - grant_points finds the member with resolve_member, the rule the lists use.

-- Every rollup write of a company takes this lock first (transaction-scoped, re-entrant),
-- so rollup rows (daily_stats, member_money, referral_stats, …) are always locked in the
-- same order and concurrent writers can't deadlock on them; rebuild_analytics takes it too,
-- so writers wait for a rebuild instead of updating rows it is replacing. Writers of one
-- company already queue on today's daily_stats row, so this costs little.
create or replace function public.lock_rollups(p_company_id text) returns void
language sql set search_path = '' as $$
  select pg_advisory_xact_lock(hashtextextended('rollups:' || p_company_id, 0))
$$;

-- A new code: its owner becomes a member of the stats.
create or replace function public.trg_codes_stats() returns trigger
language plpgsql security definer set search_path = '' as $$
begin
  perform public.lock_rollups(new.company_id);
  perform public.touch_member_stats(new.company_id, new.user_id);
  return null;
end $$;

-- A counted click: the code owner's clicks, the day's clicks, its source and country.
-- (counted never changes after insert.)
create or replace function public.trg_clicks_stats() returns trigger
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

create or replace function public.trg_referrals_stats() returns trigger
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
create or replace function public.apply_payment_stats(p public.payments, p_sign integer) returns void
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
create or replace function public.apply_commission_stats(c public.commissions, p_sign integer) returns void
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
create or replace function public.trg_transactions_stats() returns trigger
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

-- Repair: replace a company's rollups with the ones recomputed from the source rows (the
-- repair job, a time zone change, bulk loads). Returns {rebuilt}.
create or replace function public.rebuild_analytics(p_company_id text) returns jsonb
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
  return jsonb_build_object('rebuilt', p_company_id);
end $$;

-- Cache a Whop user's display fields (never used for identity), as in the core migration,
-- but without a write when nothing changed: ON CONFLICT DO UPDATE locks the row even when
-- its WHERE is false, which made every member view a write transaction; and a null field
-- (no name on Whop) no longer counts as a change. Callers ensure the program first.
create or replace function public.upsert_user(p_company_id text, p_user_id text, p_username text, p_name text)
returns void
language plpgsql security definer set search_path = '' as $$
begin
  if p_user_id is null or p_user_id !~ '^user_' then
    raise exception 'user id must look like user_…' using errcode = 'RL400';
  end if;
  if exists (select 1 from public.users where company_id = p_company_id and user_id = p_user_id
             and username is not distinct from coalesce(p_username, username)
             and name is not distinct from coalesce(p_name, name)) then
    return;
  end if;
  insert into public.users (company_id, user_id, username, name)
  values (p_company_id, p_user_id, p_username, p_name)
  on conflict (company_id, user_id) do update
    set username = coalesce(excluded.username, public.users.username),
        name = coalesce(excluded.name, public.users.name),
        updated_at = now()
    where coalesce(excluded.username, public.users.username) is distinct from public.users.username
       or coalesce(excluded.name, public.users.name) is distinct from public.users.name;
end $$;

-- Members of a company (everyone with a code or a referral). p_filter: {q (username
-- prefix or exact code), sort (conversions | clicks | signups | active_referrals |
-- revenue | earned | paid | available; default conversions), dir (desc | asc), after,
-- limit ≤ 50}. Returns {rows:[member_rows], next: cursor | null}.
create or replace function public.list_members(p_company_id text, p_filter jsonb) returns jsonb
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
    -- prefix in index order (bounded however many match; EXECUTE so the prefix uses the index)
    execute $q$
      select array_agg(user_id order by k, name) from (
        select user_id, min(k) as k, min(name) as name from (
          (select c.user_id, 0 as k, '' as name from public.referral_codes c
           where c.company_id = $1 and lower(c.code) = lower($2))
          union all
          (select u.user_id, 1, lower(u.username) from public.users u
           where u.company_id = $1 and lower(u.username) like $3
             and exists (select 1 from public.referral_stats s where s.company_id = $1 and s.user_id = u.user_id)
           order by lower(u.username) limit 50)) m
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

-- Creator grants (p_delta > 0) or deducts (< 0) points by hand with a reason (ADMIN_GRANT),
-- as in the money-lifecycle migration, now finding the member with resolve_member (one rule
-- for "a user id or a username" everywhere). RL404 unknown member; RL400 no reason, zero, or
-- a deduction below zero. Returns the new balance.
create or replace function public.grant_points(p_company_id text, p_member text, p_delta bigint, p_reason text) returns bigint
language plpgsql security definer set search_path = '' as $$
declare v_user text;
begin
  if coalesce(trim(p_reason), '') = '' then raise exception 'Give a reason' using errcode = 'RL400'; end if;
  if p_delta = 0 then raise exception 'Grant or deduct at least one point' using errcode = 'RL400'; end if;
  v_user := public.resolve_member(p_company_id, p_member);
  if v_user is null then raise exception 'No member "%" in this community', trim(p_member) using errcode = 'RL404'; end if;
  return public.add_points(p_company_id, v_user, p_delta, 'ADMIN_GRANT', 'admin', gen_random_uuid()::text, p_reason);
end $$;

revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
