// Validates the GraphiQL page's example tabs (playground/graphiql/examples.js) against
// schema.graphql as graphql-js reads it: each document parses and validates, and each tab's
// variables give every variable an operation requires. Prints one JSON line: the domains and
// their operations, or the problems found (and exits 1).
'use strict';
const fs = require('fs');
const path = require('path');
const { buildSchema, parse, validate, Kind } = require('graphql');

const root = path.join(__dirname, '..', '..');
const schema = buildSchema(fs.readFileSync(path.join(root, 'schema.graphql'), 'utf8'));
const { examples } = require(path.join(root, 'playground', 'graphiql', 'examples.js'));

const problems = [];
const tabs = examples.map(({ domain, query, variables }) => {
  let document;
  try {
    document = parse(query);
  } catch (error) {
    problems.push(`${domain}: ${error.message}`);
    return { domain, operations: [] };
  }
  for (const error of validate(schema, document)) {
    problems.push(`${domain}: ${error.message}`);
  }
  const operations = document.definitions.filter((d) => d.kind === Kind.OPERATION_DEFINITION);
  for (const operation of operations) {
    for (const definition of operation.variableDefinitions) {
      const name = definition.variable.name.value;
      const required = definition.type.kind === Kind.NON_NULL_TYPE && !definition.defaultValue;
      if (required && !(name in (variables || {}))) {
        problems.push(`${domain}: ${operation.name.value} needs $${name}, which the tab's variables lack`);
      }
    }
  }
  return {
    domain,
    operations: operations.map((o) => `${o.operation} ${o.name ? o.name.value : '(anonymous)'}`),
  };
});

console.log(JSON.stringify({ tabs, problems }));
process.exit(problems.length ? 1 : 0);
