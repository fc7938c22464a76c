// A typed client of the Empfio Webhooks API: openapi-fetch over the types
// openapi-typescript generates from api/openapi.json (src/schema.d.ts; `make
// sdk` regenerates them). Every path, parameter, body and answer is typed:
//
//   const empfio = createEmpfioClient("https://webhooks.example.com", apiKey);
//   const { data, error } = await empfio.POST("/api/v1/webhooks", {
//     body: { url: "https://example.com/hooks", events: ["lead.created"] },
//   });
//   // data.secret verifies what it receives; error is the problem+json
import createClient, { type Client } from "openapi-fetch";
import type { components, paths } from "./schema.js";

export type { components, paths };
export type Webhook = components["schemas"]["Webhook"];
export type WebhookWithSecret = components["schemas"]["WebhookWithSecret"];
export type Delivery = components["schemas"]["Delivery"];
export type Event = components["schemas"]["Event"];
export type Problem = components["schemas"]["Problem"];

/** A client of the api at baseUrl, authenticated with token: an organization's API key (or INTERNAL_AUTH_TOKEN for the internal routes). */
export function createEmpfioClient(baseUrl: string, token: string): Client<paths> {
  return createClient<paths>({ baseUrl, headers: { Authorization: `Bearer ${token}` } });
}
