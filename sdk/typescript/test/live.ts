// The SDK against a real api (sdk/sdk_test.go starts it): create a webhook,
// publish an event, read its delivery until it succeeded. It prints one JSON
// line of what it saw; any failure exits non-zero.
import { createEmpfioClient } from "../src/index.js";

const env = (name: string): string => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};

const base = env("EMPFIO_API_URL");
const empfio = createEmpfioClient(base, env("EMPFIO_API_KEY"));
const internal = createEmpfioClient(base, env("EMPFIO_INTERNAL_TOKEN"));

const created = await empfio.POST("/api/v1/webhooks", {
  body: { url: env("RECEIVER_URL"), events: ["lead.created"], description: "typescript sdk" },
});
if (!created.data) throw new Error(`create: ${JSON.stringify(created.error)}`);
const webhook = created.data;

const published = await internal.POST("/api/v1/events", {
  body: { event: "lead.created", organization_id: webhook.organization_id, data: { id: "lead-ts", channel: "web", name: "Ada" } },
});
if (!published.data) throw new Error(`publish: ${JSON.stringify(published.error)}`);

const deadline = Date.now() + 20_000;
for (;;) {
  const list = await empfio.GET("/api/v1/webhooks/{id}/deliveries", {
    params: { path: { id: webhook.id }, query: { event_id: published.data.event_id } },
  });
  if (!list.data) throw new Error(`deliveries: ${JSON.stringify(list.error)}`);
  const d = list.data.data[0];
  if (d && d.status === "succeeded") {
    const one = await empfio.GET("/api/v1/deliveries/{id}", { params: { path: { id: d.id } } });
    if (!one.data) throw new Error(`delivery: ${JSON.stringify(one.error)}`);
    console.log(JSON.stringify({ webhook: webhook.id, secret: webhook.secret.slice(0, 6), event: published.data.event_id,
      delivery: one.data.id, status: one.data.status, attempts: one.data.attempts }));
    break;
  }
  if (Date.now() > deadline) throw new Error(`the delivery did not succeed: ${JSON.stringify(d)}`);
  await new Promise((r) => setTimeout(r, 100));
}
