// Publishes the configuration document's JSON Schema so editors can complete and check config files.
import { writeFileSync } from 'node:fs';
import { configJsonSchema } from '../lambdas/config/schema.ts';

const schema = {
  $id: 'https://token-refresher.local/config.schema.json',
  title: 'token-refresher configuration',
  ...(configJsonSchema() as object),
};
writeFileSync(new URL('../config.schema.json', import.meta.url), `${JSON.stringify(schema, null, 2)}\n`);
console.log('wrote config.schema.json');
