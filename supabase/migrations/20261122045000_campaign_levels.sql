-- Referly: campaign places at community size (issue 8; measured by bench/campaigns.ts at
-- 100 000 members: the member's place 11.2 → ~1 ms p50, the campaign page 12.7 → ~1.1 ms).
-- The campaigns migration ranked by counting every member ahead on each read. Instead:
--   - campaign_levels: members per count in a campaign, kept with the tallies by
--     sync_referral_counted in the counting transaction, so a place is 1 + the members with a
--     higher count (a few rows) + the ties reached earlier (a range on the standings index);
--   - the standings take the top N by that index before ranking them, usernames by key;
--   - the grants left to do are found per company (the webhook's after-commit grant) by an
--     index that starts with company_id.
-- The functions are the campaigns migration's, replaced.

-- How many members of a campaign have each count (kept with campaign_members): a member's
-- place adds up the few counts above theirs instead of counting every member ahead.
create table public.campaign_levels (
  campaign_id uuid not null references public.campaigns(id),
  conversions integer not null check (conversions > 0),
  members integer not null check (members >= 0),
  primary key (campaign_id, conversions)
);
alter table public.campaign_levels enable row level security;

insert into public.campaign_levels (campaign_id, conversions, members)
select campaign_id, conversions, count(*) from public.campaign_members where conversions > 0 group by 1, 2;

drop index public.reward_redemptions_due_idx;
create index reward_redemptions_due_idx on public.reward_redemptions (company_id, updated_at)
  where status in ('pending', 'failed') and requested_at is not null;

-- The top p_limit of a campaign's standings with their places and prizes (frozen places once
-- awarded), as the campaigns migration's, from the index first.
create or replace function public.campaign_standings(c public.campaigns, p_limit integer) returns jsonb
language sql stable set search_path = '' as $$
  select coalesce(jsonb_agg(jsonb_build_object('place', s.place, 'user_id', s.user_id,
    'member', coalesce((select u.username from public.users u where u.company_id = c.company_id and u.user_id = s.user_id), s.user_id),
    'conversions', s.conversions, 'reached_at', s.reached_at,
    'prize', c.prizes->'top'->(s.place::integer - 1)) order by s.place), '[]')
  -- the top p_limit by the standings index first, then their live ranks among themselves
  from (select cm.user_id, cm.conversions, cm.reached_at,
          coalesce(cm.place, row_number() over (order by cm.conversions desc, cm.reached_at, cm.user_id)) as place
        from (select * from public.campaign_members
              where campaign_id = c.id and conversions > 0
              order by conversions desc, reached_at, user_id limit p_limit) cm) s
$$;

-- The campaigns migration's counting (what counts, milestones, campaign tallies), now also
-- moving the member between counts in campaign_levels.
create or replace function public.sync_referral_counted(p_referral_id uuid) returns boolean
language plpgsql security definer set search_path = '' as $$
declare
  r public.referrals;
  v_should boolean;
  v_sign integer;
  v_all integer;
  v_campaign integer;
  v_awarded boolean;
  w record;
  v_id uuid;
begin
  select * into r from public.referrals where id = p_referral_id;
  if r.id is null then return false; end if;
  v_should := public.referral_counts(r);
  if v_should = r.counted then return r.counted; end if;
  v_sign := case when v_should then 1 else -1 end;
  update public.referrals set counted = v_should, counted_at = case when v_should then now() end where id = r.id;

  insert into public.reward_progress as p (company_id, user_id, conversions) values (r.company_id, r.referrer_user_id, greatest(v_sign, 0))
  on conflict (company_id, user_id) do update set conversions = p.conversions + v_sign, updated_at = now()
  returning conversions into v_all;

  if r.campaign_id is not null then
    select awarded_at is not null into v_awarded from public.campaigns where id = r.campaign_id for update;
    if not v_awarded then
      update public.campaigns set total_referrals = total_referrals + v_sign, updated_at = now() where id = r.campaign_id;
      insert into public.campaign_members as m (company_id, campaign_id, user_id, conversions, reached_at)
      values (r.company_id, r.campaign_id, r.referrer_user_id, greatest(v_sign, 0), now())
      on conflict (campaign_id, user_id) do update set conversions = m.conversions + v_sign,
        reached_at = case when v_sign > 0 then now()
                          else (select max(x.counted_at) from public.referrals x
                                where x.campaign_id = r.campaign_id and x.referrer_user_id = r.referrer_user_id and x.counted) end
      returning conversions into v_campaign;
      -- the member moved from the count they had to the one they have
      if v_campaign > 0 then
        insert into public.campaign_levels as l (campaign_id, conversions, members) values (r.campaign_id, v_campaign, 1)
        on conflict (campaign_id, conversions) do update set members = l.members + 1;
      end if;
      update public.campaign_levels set members = members - 1
      where campaign_id = r.campaign_id and conversions = v_campaign - v_sign;
    end if;
  end if;

  if v_sign > 0 then
    for w in select * from public.rewards
             where company_id = r.company_id and is_active
               and ((campaign_id is null and threshold <= v_all) or (campaign_id = r.campaign_id and threshold <= v_campaign))
             order by threshold, created_at loop
      insert into public.reward_redemptions (company_id, user_id, reward_id, campaign_id, name, reward_type, reward_data, requested_at)
      values (r.company_id, r.referrer_user_id, w.id, w.campaign_id, w.name, w.reward_type, w.reward_data,
        case when w.auto_apply then now() end)
      on conflict do nothing
      returning id into v_id;
      if v_id is not null then
        update public.rewards set unlocked = unlocked + 1 where id = w.id;
        if w.auto_apply and w.reward_type = 'points' then perform public.grant_reward_redemption(r.company_id, v_id); end if;
      end if;
      v_id := null;
    end loop;
  else
    with withdrawn as (
      delete from public.reward_redemptions d using public.rewards x
      where d.company_id = r.company_id and d.user_id = r.referrer_user_id and d.reward_id = x.id and d.status in ('pending', 'failed')
        and ((x.campaign_id is null and x.threshold > v_all)
             or (x.campaign_id = r.campaign_id and v_campaign is not null and x.threshold > v_campaign))
      returning d.reward_id)
    update public.rewards x set unlocked = x.unlocked - n.n
    from (select reward_id, count(*)::integer as n from withdrawn group by reward_id) n where x.id = n.reward_id;
  end if;
  return v_should;
end $$;

-- The member's milestones, unlocked rewards and running campaign, as the campaigns
-- migration's, the place from campaign_levels.
create or replace function public.get_member_rewards(p_company_id text, p_user_id text) returns jsonb
language plpgsql stable security definer set search_path = '' as $$
declare
  v_all integer := coalesce((select conversions from public.reward_progress where company_id = p_company_id and user_id = p_user_id), 0);
  c public.campaigns;
  m public.campaign_members;
  v_campaign jsonb;
begin
  select * into c from public.campaigns x
  where x.company_id = p_company_id and x.scheduled and x.status <> 'archived' and x.start_date <= now() and now() < x.end_date
  order by x.end_date, x.created_at, x.id limit 1;
  if c.id is not null then
    select * into m from public.campaign_members where campaign_id = c.id and user_id = p_user_id;
    v_campaign := public.campaign_json(c) || jsonb_build_object('conversions', coalesce(m.conversions, 0),
      -- members ahead: more conversions (campaign_levels), or as many reached earlier (ties:
      -- user id; a range count on the standings index)
      'place', case when coalesce(m.conversions, 0) > 0 then 1
        + (select coalesce(sum(l.members), 0) from public.campaign_levels l where l.campaign_id = c.id and l.conversions > m.conversions)
        + (select count(*) from public.campaign_members o where o.campaign_id = c.id and o.conversions = m.conversions
             and (o.reached_at, o.user_id) < (m.reached_at, m.user_id)) end);
  end if;
  return jsonb_build_object('conversions', v_all,
    'milestones', coalesce((select jsonb_agg(jsonb_build_object('id', w.id, 'name', w.name, 'description', w.description,
        'threshold', w.threshold, 'reward_type', w.reward_type, 'reward_data', w.reward_data, 'campaign_id', w.campaign_id,
        'campaign_name', k.name, 'progress', least(s.progress, w.threshold), 'remaining', greatest(w.threshold - s.progress, 0),
        'redemption', (select public.redemption_json(d) from public.reward_redemptions d
                       where d.company_id = p_company_id and d.reward_id = w.id and d.user_id = p_user_id))
        order by w.campaign_id nulls first, w.threshold, w.created_at)
      from public.rewards w
      left join public.campaigns k on k.id = w.campaign_id
      cross join lateral (select case when w.campaign_id is null then v_all
                                      else coalesce((select conversions from public.campaign_members
                                                     where campaign_id = w.campaign_id and user_id = p_user_id), 0) end as progress) s
      where w.company_id = p_company_id and w.is_active
        and (w.campaign_id is null or public.campaign_status(k, now()) in ('active', 'ended'))), '[]'),
    'unlocked', coalesce((select jsonb_agg(public.redemption_json(d) order by d.created_at desc, d.id desc)
      from (select * from public.reward_redemptions where company_id = p_company_id and user_id = p_user_id
            order by created_at desc, id desc limit 50) d), '[]'),
    'campaign', v_campaign);
end $$;

-- ── Privileges: only the server (service role) reads and writes ─────────────
revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;
