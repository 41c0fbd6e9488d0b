// schema.graphql as graphql-js reads it (buildSchema, as code generators and IDE plugins
// load it), compared with the schema the server answers by introspection: the same types,
// fields, arguments and descriptions, printed alike. Prints what differs.
'use strict';
const fs = require('fs');
const path = require('path');
const {
  buildClientSchema,
  buildSchema,
  getIntrospectionQuery,
  lexicographicSortSchema,
  printSchema,
} = require('graphql');
const { http, run } = require('./common');

run(async () => {
  const sdl = fs.readFileSync(path.join(__dirname, '..', '..', '..', 'schema.graphql'), 'utf8');
  const file = buildSchema(sdl);
  const served = buildClientSchema(await http(getIntrospectionQuery({ descriptions: true })));
  const print = (schema) => printSchema(lexicographicSortSchema(schema)).split('\n');
  const [ours, theirs] = [print(file), print(served)];
  const differing = ours.filter((line) => !theirs.includes(line))
    .map((line) => `file: ${line}`)
    .concat(theirs.filter((line) => !ours.includes(line)).map((line) => `served: ${line}`));
  return {
    client: 'graphql-js buildSchema',
    types: Object.keys(file.getTypeMap()).filter((name) => !name.startsWith('__')).length,
    subscriptions: Object.keys(file.getSubscriptionType().getFields()),
    differing,
  };
});
