-- Referly: the member reads that grew with the community (issue 6, bench/reads.ts).
--
-- At 100 000 members two reads still grew by more than 1.5x from a tenth of the size:
-- * The Members search (list_members q) ordered its usernames by the database collation while
--   users_company_username_idx is text_pattern_ops (byte order), so the planner read every
--   username with the prefix (11 000 for "bmember3") and sorted them. Ordering by the index's
--   own operator (~<~) reads the first 50 and stops.
-- * The member Home's latest referrals read each referral's heap page after its index entry
--   (one random page per referral, the Home's largest share of pages on a cold cache). The
--   index that serves it now carries the columns the Home shows, so it is read alone.
-- * Every name shown beside an id (the Home's referees, member and referral lists) read the
--   users heap after its key. The key now carries username and name: one index page per name.

-- same key as referrals_referrer_idx (core), with the Home's columns: an index-only scan
create index referrals_referrer_recent_idx on public.referrals (company_id, referrer_user_id, created_at desc)
  include (referee_user_id, status, deactivated_at, source, converted_at);
drop index public.referrals_referrer_idx;

-- users' primary key, with the names the pages show (the referral codes' foreign key needs the
-- key, so it is dropped and made again around the swap)
create unique index users_key_names_idx on public.users (company_id, user_id) include (username, name);
alter table public.referral_codes drop constraint referral_codes_company_id_user_id_fkey;
alter table public.users drop constraint users_pkey;
alter table public.users add constraint users_pkey primary key using index users_key_names_idx;
alter table public.referral_codes add constraint referral_codes_company_id_user_id_fkey
  foreign key (company_id, user_id) references public.users (company_id, user_id);

-- Members of a company (everyone with a code or a referral), as in the analytics fixes,
-- with a search's usernames in byte order. p_filter: {q (username
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

-- Everything the member's Home shows, as in the analytics migration, its latest referrals read
-- from referrals_referrer_recent_idx alone (the columns shown, not the row):
-- {code, code_active, funnel:{clicks, signups, conversions, active_referrals}, earnings
-- (get_user_referral_earnings), this_month_cents (commissions earned this local month,
-- program currency), series (last 30 local days: clicks, conversions, commissions_cents),
-- referrals (latest 50), referred_by, program:{currency, min_payout_cents, timezone}}.
-- Creates the member's code on first visit.
create or replace function public.get_member_view(p_company_id text, p_user_id text, p_username text, p_name text)
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

revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
