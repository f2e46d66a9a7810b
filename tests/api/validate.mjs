// Validates the recorder API's OpenAPI document (tests/api.test.sh): the document against the
// OpenAPI specification's own schema (3.1), every $ref resolved, every schema in it compiled as
// JSON Schema 2020-12, and every tool named on the command line present as POST
// /api/v1/tools/NAME. Prints "ok - ..." / "not ok - ..." lines.
// Usage: node validate.mjs OPENAPI.json TOOL...
import { readFileSync } from "node:fs";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020.js";

const [file, ...tools] = process.argv.slice(2);
const doc = JSON.parse(readFileSync(file, "utf8"));
let failed = 0;
const check = (ok, what) => {
	console.log(`${ok ? "ok" : "not ok"} - ${what}`);
	if (!ok) failed++;
};

const validator = new Validator();
const res = await validator.validate(structuredClone(doc));
check(res.valid && validator.version.startsWith("3.1"),
	`the OpenAPI document validates (version ${validator.version})` +
	(res.valid ? "" : `: ${JSON.stringify(res.errors).slice(0, 1500)}`));
let resolved = true;
try {
	validator.resolveRefs();
} catch (e) {
	resolved = false;
	console.log(`# ${e.message}`);
}
check(resolved, "every $ref in it resolves");

const ajv = new Ajv2020({ strict: false, allErrors: true });
const bad = [];
let n = 0;
for (const [path, item] of Object.entries(doc.paths ?? {})) {
	for (const [method, op] of Object.entries(item)) {
		const schemas = [];
		if (op.requestBody) schemas.push(op.requestBody.content["application/json"].schema);
		for (const r of Object.values(op.responses ?? {}))
			if (r.content) schemas.push(r.content["application/json"].schema);
		for (const p of op.parameters ?? []) schemas.push(p.schema);
		for (const s of schemas) {
			if (s.$ref) continue;
			n++;
			try {
				ajv.compile(s);
			} catch (e) {
				bad.push(`${method} ${path}: ${e.message}`);
			}
		}
	}
}
check(n > 0 && bad.length === 0, `its ${n} schemas compile as JSON Schema 2020-12${bad.length ? ": " + bad.join("; ") : ""}`);
const missing = tools.filter((t) => !doc.paths?.[`/api/v1/tools/${t}`]?.post);
check(tools.length > 0 && missing.length === 0,
	`it lists every tool (${tools.length})${missing.length ? ", missing: " + missing.join(" ") : ""}`);
process.exit(failed ? 1 : 0);
