-- Privileges, applied last, once every table and function exists. Row-level security is on
-- for every table (each file enables it beside its table) and no policy exists, so nothing
-- is readable through Supabase's anon or authenticated roles; only the server's service
-- role executes the functions, which are the write API. The default privileges give
-- functions created later the same — with one global line: Postgres grants EXECUTE to PUBLIC
-- on every new function by a default that a per-schema rule cannot take away, so a function
-- a later migration creates would otherwise be executable by anyone. Every generated
-- migration also ends with this file's statements (lib/db/diff-cli.ts).

-- Supabase has these roles; a plain Postgres (embedded, CI) gets them in 00_core.sql.
revoke all on all tables in schema public from anon, authenticated;
revoke execute on all functions in schema public from public, anon, authenticated;
grant execute on all functions in schema public to service_role;

alter default privileges in schema public revoke all on tables from anon, authenticated;
alter default privileges in schema public revoke execute on functions from public, anon, authenticated;
alter default privileges in schema public grant execute on functions to service_role;
alter default privileges revoke execute on functions from public;
