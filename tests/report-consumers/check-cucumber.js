// Reads kubelab's cucumber.json with multiple-cucumber-html-reporter (a standard Cucumber JSON
// consumer): generates its HTML report and prints the scenario counts the reporter derived,
// as one JSON line: {"total":N,"passed":N,"failed":N,"skipped":N,"features":N}.
// Usage: node check-cucumber.js CUCUMBER_JSON OUT_DIR
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const reporter = require('multiple-cucumber-html-reporter');

const [jsonFile, outDir] = process.argv.slice(2);
if (!jsonFile || !outDir) {
  console.error('usage: node check-cucumber.js CUCUMBER_JSON OUT_DIR');
  process.exit(2);
}
// The reporter reads every *.json of a directory: give it exactly our file.
const jsonDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kubelab-cucumber-'));
fs.copyFileSync(jsonFile, path.join(jsonDir, 'cucumber.json'));
fs.rmSync(outDir, { recursive: true, force: true });
// Its banner goes to stdout; keep stdout for our one result line.
const log = console.log;
console.log = (...a) => console.error(...a);
reporter.generate({
  jsonDir,
  reportPath: outDir,
  saveCollectedJSON: true,
  openReportInBrowser: false,
  disableLog: true,
  pageTitle: 'kubelab cucumber.json via multiple-cucumber-html-reporter',
});
console.log = log;
const enriched = JSON.parse(fs.readFileSync(path.join(outDir, 'enriched-output.json'), 'utf8'));
if (!fs.existsSync(path.join(outDir, 'index.html'))) {
  console.error('reporter produced no index.html');
  process.exit(1);
}
const sc = enriched.scenarios;
const s = { features: enriched.features.length };
for (const k of ['total', 'passed', 'failed', 'skipped', 'pending', 'notDefined', 'ambiguous']) {
  s[k] = sc[k] || 0;
}
log(JSON.stringify(s));
