-- Demo data (demo mode only; the launcher runs it on every start, so it is idempotent).
-- Identities match lib/demo/index.ts DEMO_USERS. Everything goes through the same SQL
-- functions as production, so the ledger is consistent by construction.
select public.update_program_settings('biz_referlydemo',
  '{"name": "Referly Demo Community", "plan_id": "plan_referlydemo", "ledger_account_id": "ldgr_referlydemo"}');
-- the creator has been through the setup checklist (plan, ledger account, terms)
select public.confirm_program_terms('biz_referlydemo');
select public.get_or_create_code('biz_referlydemo', 'user_demo_casey', 'casey', 'Casey Creator');
select public.get_or_create_code('biz_referlydemo', 'user_demo_alex', 'alex', 'Alex Member');
select public.get_or_create_code('biz_referlydemo', 'user_demo_sam', 'sam', 'Sam Member');
select public.set_referral_code('biz_referlydemo', 'user_demo_alex', 'ALEX');
select public.set_referral_code('biz_referlydemo', 'user_demo_sam', 'SAM');

-- Sam's link was clicked three times (once by a bot, which is not counted)
do $$
begin
  if not exists (select 1 from public.referral_clicks k join public.referral_codes c on c.id = k.code_id
                 where c.company_id = 'biz_referlydemo' and c.user_id = 'user_demo_sam') then
    perform public.record_click('SAM', 'seed-visitor-1', 'Mozilla/5.0 (Macintosh)', 'https://x.com/', 'US', false);
    perform public.record_click('SAM', 'seed-visitor-2', 'Mozilla/5.0 (iPhone)', null, 'GB', false);
    perform public.record_click('SAM', 'seed-bot', 'Googlebot/2.1', null, null, true);
  end if;
end $$;

-- Jordan joined and paid $49.99 through Sam's link: a $10.00 commission, pending
select public.process_webhook_event('evt_seed_jordan_membership', 'membership.activated', 'biz_referlydemo',
  '{"id": "mem_seed_jordan", "user": {"id": "user_demo_jordan", "username": "jordan", "name": "Jordan"},
    "metadata": {"referral_code": "SAM"}}');
select public.process_webhook_event('evt_seed_jordan_payment', 'payment.succeeded', 'biz_referlydemo',
  '{"id": "pay_seed_jordan", "total": 49.99, "tax_amount": null, "currency": "usd",
    "user": {"id": "user_demo_jordan", "username": "jordan", "name": "Jordan"},
    "metadata": {"referral_code": "SAM"}}');

-- Jordan paid three weeks ago, so Sam's commission is past its hold and available to withdraw
update public.commissions set available_at = now() - interval '7 days', created_at = now() - interval '21 days'
where company_id = 'biz_referlydemo' and payment_id = 'pay_seed_jordan' and status = 'pending';
select public.release_commissions();

-- Rewards members can redeem with points
do $$
begin
  if not exists (select 1 from public.points_items where company_id = 'biz_referlydemo') then
    perform public.create_points_item('biz_referlydemo',
      '{"name": "One month free", "cost_points": 500, "grant_type": "discount", "grant_config": {"percent_off": 100}}');
    perform public.create_points_item('biz_referlydemo',
      '{"name": "Shout-out in the community", "cost_points": 200, "grant_type": "custom", "grant_config": {"note": "Casey thanks you in #general"}}');
  end if;
end $$;
