/** `npm run db:migrate`: apply supabase/migrations to DATABASE_URL. */
import { migrate } from "./migrate";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("DATABASE_URL is not set. (For a Supabase project use `npx supabase db push --db-url <url>`.)");
  process.exit(2);
}
const applied = await migrate(url);
console.log(applied.length ? `applied ${applied.join(", ")}` : "database is up to date");
