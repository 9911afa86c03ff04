// The Node openai SDK's default embeddings call (it asks base64 and decodes float32), printed as JSON.
import OpenAI from "openai";

const client = new OpenAI({ baseURL: process.env.BASE_URL, apiKey: process.env.API_KEY, maxRetries: 0 });
const result = await client.embeddings.create({ model: process.env.MODEL, input: ["a", "b"] });
console.log(JSON.stringify({ vectors: result.data.map((item) => Array.from(item.embedding)) }));
