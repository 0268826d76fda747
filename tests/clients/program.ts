// What an integrator writes first with the generated TypeScript types (openapi-typescript)
// and openapi-fetch: sign in, create with an Idempotency-Key, page through a list, edit with
// If-Match. `tsc --strict` checks it against the document; tests/test_generated_clients.py
// then runs it against a live server. Usage: node program.js BASE_URL EMAIL PASSWORD
import createClient from "openapi-fetch";
import type { components, paths } from "./schema";

// Node's own: the program needs nothing else of it.
declare const process: { argv: string[]; exit(code: number): never };

type Brand = components["schemas"]["BrandOut"];
type Problem = components["schemas"]["Problem"];

async function main(baseUrl: string, email: string, password: string): Promise<void> {
  const anonymous = createClient<paths>({ baseUrl });
  const login = await anonymous.POST("/auth/login", { body: { email, password } });
  if (login.data === undefined) {
    throw new Error(`login answered ${login.response.status}`);
  }
  const role: components["schemas"]["SessionRole"] = login.data.role;
  const client = createClient<paths>({
    baseUrl,
    headers: { Authorization: `Bearer ${login.data.token}` },
  });

  const body = { name: "Maison Lumière", slug: "maison-lumiere", timezone: "Europe/Paris" };
  const created = await client.POST("/brands", {
    params: { header: { "Idempotency-Key": "create-maison-lumiere" } },
    body,
  });
  if (created.data === undefined) {
    throw new Error(`create answered ${created.response.status}`);
  }
  const replayed = await client.POST("/brands", {
    params: { header: { "Idempotency-Key": "create-maison-lumiere" } },
    body,
  });

  const names: string[] = [];
  let cursor: string | undefined = undefined;
  do {
    const page: { data?: components["schemas"]["BrandPage"] } = await client.GET("/brands", {
      params: { query: { limit: 1, cursor } },
    });
    if (page.data === undefined) {
      throw new Error("list failed");
    }
    names.push(...page.data.items.map((brand: Brand) => brand.name));
    cursor = page.data.next_cursor ?? undefined;
  } while (cursor !== undefined);

  const etag = created.response.headers.get("ETag") ?? "";
  const edit = { name: "Maison Lumière Paris" };
  const edited = await client.PATCH("/brands/{brand_id}", {
    params: { path: { brand_id: created.data.id }, header: { "If-Match": etag } },
    body: edit,
  });
  const stale = await client.PATCH("/brands/{brand_id}", {
    params: { path: { brand_id: created.data.id }, header: { "If-Match": etag } },
    body: edit,
  });
  const refused: Problem | undefined = stale.error;

  console.log(
    JSON.stringify({
      role,
      location: created.response.headers.get("Location"),
      replayed: replayed.response.headers.get("Idempotent-Replayed"),
      sameBrand: replayed.data?.id === created.data.id,
      names,
      edited: edited.data?.name,
      staleStatus: stale.response.status,
      staleType: refused?.type,
    }),
  );
}

const [baseUrl, email, password] = process.argv.slice(2);
main(baseUrl, email, password).catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
