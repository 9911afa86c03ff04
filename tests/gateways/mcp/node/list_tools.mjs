// The TypeScript SDK's listTools(), called once as users call it (it does not follow nextCursor),
// then one tools/call. Prints {"tools": [...], "call": "..."} as JSON. Args: URL TOKEN TOOL ARGS_JSON.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [url, token, tool, args] = process.argv.slice(2);
const transport = new StreamableHTTPClientTransport(new URL(url), {
  requestInit: { headers: { Authorization: `Bearer ${token}` } },
});
const client = new Client({ name: "promptgate-test", version: "1.0.0" });
await client.connect(transport);
const listed = await client.listTools();
const called = await client.callTool({ name: tool, arguments: JSON.parse(args) });
console.log(JSON.stringify({
  protocol: transport.protocolVersion ?? null,
  tools: listed.tools.map((t) => t.name),
  nextCursor: listed.nextCursor ?? null,
  call: called.content[0].text,
}));
await client.close();
