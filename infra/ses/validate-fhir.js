// Validates FHIR R4 resources against the base R4 specification with the npm
// `fhir` package: node validate-fhir.js FILE, where FILE holds a JSON array
// of resources. Prints one JSON line per resource: {"index", "valid",
// "messages"}. Used by the Go tests (shared/apptest).
'use strict';
const fs = require('fs');
const { Fhir } = require('fhir');

const fhir = new Fhir();
const resources = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
resources.forEach((resource, index) => {
  const result = fhir.validate(resource, { errorOnUnexpected: true });
  process.stdout.write(JSON.stringify({ index, valid: result.valid, messages: result.messages }) + '\n');
});
